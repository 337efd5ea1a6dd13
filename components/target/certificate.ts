// The load balancer's certificate: an ACM certificate for the stack's hostnames, validated
// through DNS records the program declares in the Cloudflare zone, so the ALB serves
// HTTPS from the first `pulumi up` and Cloudflare can reach it under Full (strict).
// - ACM DNS validation: one CNAME per domain, named and valued as the certificate's
//   domainValidationOptions say; ACM issues once it sees them, and keeps renewing while
//   they stay (https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html).
// - The CNAMEs must be DNS-only: a proxied record answers with Cloudflare's addresses
//   instead of the CNAME, so ACM would never see it (https://developers.cloudflare.com/dns/proxy-status/).
// - aws.acm.CertificateValidation waits until the certificate is issued; the listener
//   takes its ARN, so it is created only with an issued certificate (an HTTPS listener
//   with a certificate that is not issued is refused: UnsupportedCertificate,
//   https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateListener.html).
import * as aws from "@pulumi/aws";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";

/** What one domain's validation option asks for (ACM's names end in a dot). */
export interface ValidationOption {
  domainName: string;
  resourceRecordName: string;
  resourceRecordType: string;
  resourceRecordValue: string;
}

/** The Cloudflare record that answers one validation option: DNS-only, names without the root dot. */
export function validationRecord(option: ValidationOption): { name: string; type: string; content: string; proxied: false; ttl: number } {
  const bare = (name: string) => name.replace(/\.$/, "");
  return { name: bare(option.resourceRecordName), type: option.resourceRecordType, content: bare(option.resourceRecordValue), proxied: false, ttl: 60 };
}

export interface OriginCertificateArgs {
  /** The hostnames the ALB serves: the first is the certificate's name, the rest its alternative names. */
  hostnames: string[];
  zoneId: string;
  tags: Record<string, string>;
}

export class OriginCertificate extends pulumi.ComponentResource {
  /** The certificate's ARN once ACM has issued it (what the HTTPS listener takes). */
  readonly arn: pulumi.Output<string>;

  constructor(name: string, args: OriginCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:OriginCertificate", name, {}, opts);
    const [domainName, ...alternatives] = args.hostnames;
    const certificate = new aws.acm.Certificate(`${name}-cert`, {
      domainName,
      subjectAlternativeNames: alternatives,
      validationMethod: "DNS",
      tags: args.tags,
    }, { parent: this });
    const records = args.hostnames.map((host, i) => {
      const option = certificate.domainValidationOptions.apply((options) => {
        const found = (options ?? []).find((o) => o.domainName === host);
        if (!found) throw new Error(`ACM gave no DNS validation option for ${host}`);
        return validationRecord(found);
      });
      return new cloudflare.DnsRecord(`${name}-validation-${i}`, {
        zoneId: args.zoneId,
        name: option.name,
        type: option.type,
        content: option.content,
        proxied: false,
        ttl: 60,
        comment: "ferry: ACM validation of the load balancer's certificate",
      }, { parent: this });
    });
    const validation = new aws.acm.CertificateValidation(`${name}-cert`, {
      certificateArn: certificate.arn,
      validationRecordFqdns: records.map((r) => r.name),
    }, { parent: this });
    this.arn = validation.certificateArn;
    this.registerOutputs({ arn: this.arn });
  }
}
