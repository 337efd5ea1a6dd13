// A stand-in for the AWS CLI's `secretsmanager get-secret-value` (a secret with no value
// yet: ResourceNotFoundException) and `put-secret-value`, answering as the
// PutSecretValue API documents (VersionId in the JSON output; ValidationException over
// 65,536 bytes; ResourceNotFoundException for an unknown secret), recording its argv and
// what reached its stdin in $AWS_DIR, so tests can check values travel only by stdin. It
// opens /dev/stdin by path, as the real CLI does for `file:///dev/stdin` (which fails with
// ENXIO when stdin is a socket, as Node's stdio "pipe" is).
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ferry/app-config-AbCdEf";

export function fakeAws(dir: string): void {
  writeFileSync(join(dir, "aws"), `#!/bin/sh
printf '%s\\n' "$*" > "$AWS_DIR/argv"
# The secret holds no value yet (GetSecretValue of AWSCURRENT): ferry then writes one.
[ "$1 $2" = "secretsmanager get-secret-value" ] && { echo "An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can't find the specified secret value for staging label: AWSCURRENT" >&2; exit 254; }
[ "$1 $2" = "secretsmanager put-secret-value" ] || { echo "unexpected: $*" >&2; exit 2; }
case " $* " in *" --secret-string file:///dev/stdin "*) ;; *) echo "value not read from stdin" >&2; exit 2 ;; esac
case " $* " in *" --secret-id ${SECRET} "*) ;; *) echo "An error occurred (ResourceNotFoundException) when calling the PutSecretValue operation: Secrets Manager can't find the specified secret." >&2; exit 254 ;; esac
cat /dev/stdin > "$AWS_DIR/stdin" || exit 255
if [ "$(wc -c < "$AWS_DIR/stdin")" -gt 65536 ]; then echo "An error occurred (ValidationException) when calling the PutSecretValue operation: 1 validation error detected: Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to 65536" >&2; exit 254; fi
echo '{"ARN": "${SECRET}", "Name": "ferry/app-config-AbCdEf", "VersionId": "2b4c6d8e-0000-4000-8000-00000000000a", "VersionStages": ["AWSCURRENT"]}'
`);
  chmodSync(join(dir, "aws"), 0o755);
}

