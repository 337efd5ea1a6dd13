// A throwaway certificate authority and a server certificate it signs, made with the
// real openssl, so nginx's origin verification is exercised against genuine chains.
import { join } from "node:path";
import { readFileSync, writeFileSync } from "node:fs";
import { run, tempDir } from "../../../rehearsal/servers";

export interface TestCa {
  caCert: string;
  /** Issue a certificate for `dnsName` signed by this CA. */
  issue(dnsName: string): Promise<{ cert: string; key: string; certPem: string; keyPem: string }>;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export async function makeTestCa(name: string): Promise<TestCa> {
  const dir = tempDir(`ca-${name}`);
  const caKey = join(dir, "ca.key");
  const caCert = join(dir, "ca.crt");
  await run("openssl", ["req", "-x509", ...EC, "-keyout", caKey, "-out", caCert, "-days", "2", "-subj", `/CN=ferry test CA ${name}`]);
  let serial = 1;
  return {
    caCert,
    async issue(dnsName) {
      const key = join(dir, `${dnsName}.key`);
      const csr = join(dir, `${dnsName}.csr`);
      const cert = join(dir, `${dnsName}.crt`);
      const ext = join(dir, `${dnsName}.ext`);
      writeFileSync(ext, `subjectAltName=DNS:${dnsName}\nextendedKeyUsage=serverAuth\n`);
      await run("openssl", ["req", ...EC, "-keyout", key, "-out", csr, "-subj", `/CN=${dnsName}`]);
      await run("openssl", ["x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-set_serial", String(serial++), "-days", "2", "-out", cert, "-extfile", ext]);
      return { cert, key, certPem: readFileSync(cert, "utf8"), keyPem: readFileSync(key, "utf8") };
    },
  };
}
