// TLS trust, built once per CA bundle. Given a `ca` option, Node builds a new
// SecureContext for every connection and parses each certificate in it: with the system
// roots (144) beside a given CA that is ~23 ms of CPU per connection on a quiet 2-core
// machine, and the cutover pays it inside its window, for every upstream the Redis proxy
// opens at a repoint and every connection a verify opens, one after the other on one
// event loop. A context is not changed once made, so one per bundle is shared.
import { readFileSync } from "node:fs";
import { createSecureContext, rootCertificates, SecureContext } from "node:tls";

const contexts = new Map<string, SecureContext>();

/**
 * The shared context that trusts the certificates in `pem`, and with `withSystemRoots`
 * what Node trusts by default beside them. Keyed by the PEM as given: the roots are
 * joined in only when a context is built, not on every connection.
 */
export function caContext(pem: string, withSystemRoots = false): SecureContext {
  const key = `${withSystemRoots ? "roots+" : ""}${pem}`;
  let context = contexts.get(key);
  if (!context) {
    context = createSecureContext({ ca: withSystemRoots ? [pem, ...systemRoots()] : [pem] });
    contexts.set(key, context);
  }
  return context;
}

let roots: string[] | undefined;

/**
 * What Node trusts when no `ca` is given: its bundled roots and the certificates of
 * NODE_EXTRA_CA_CERTS (https://nodejs.org/api/cli.html#node_extra_ca_certsfile). A `ca`
 * option replaces both, and `tls.rootCertificates` holds the bundled ones only, so the
 * extra file is read here too: a CA a machine adds that way (a company's, or the
 * rehearsal's stand-in for the public CAs) is trusted beside a given PEM as without it.
 * Read once, as Node reads it once at start.
 */
function systemRoots(): string[] {
  if (roots) return roots;
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  roots = [...rootCertificates];
  if (!extra) return roots;
  try {
    roots.push(readFileSync(extra, "utf8"));
  } catch {
    // Node itself goes on without an unreadable file (it warns once at start).
  }
  return roots;
}
