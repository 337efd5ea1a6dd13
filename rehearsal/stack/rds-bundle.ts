// The EC2 runner's user data downloads the RDS CA bundle to RDS_CA_BUNDLE and the
// program's database URLs name it (sslrootcert); the rehearsal's runner is this machine,
// so each rehearsal puts its own CA there for its run. Rehearsals run side by side (CI
// runs several, engineers share machines), each with its own CA: the file holds one
// marked block per running rehearsal (a PEM bundle may hold several CAs; libpq and Node
// skip the marker lines outside BEGIN/END), each added and removed under a lock, as the
// /etc/hosts blocks are (hosts.ts). A file holding anything unmarked is a real bundle:
// never replaced, never removed.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { onExit } from "../servers";
import { RDS_CA_BUNDLE } from "../../components/target/userData";
import { withFileLock } from "./hosts";

const begin = (runId: string) => `# ferry rehearsal CA ${runId} begin`;
const end = (runId: string) => `# ferry rehearsal CA ${runId} end`;
const BLOCK = /^# ferry rehearsal CA (\S+) begin\n[\s\S]*?^# ferry rehearsal CA \1 end\n/gm;

function withoutBlock(text: string, runId: string): string {
  return text.replace(BLOCK, (block, id: string) => (id === runId ? "" : block));
}

/** Readers (libpq, ferry) open the file at any moment: they see the old or the new whole file. */
function writeWhole(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Add this rehearsal's CA to the bundle at `path`; returns what takes it out again (also run at exit). */
export function installRdsBundle(caFile: string, runId: string, path = RDS_CA_BUNDLE): () => void {
  const ca = readFileSync(caFile, "utf8");
  mkdirSync(dirname(path), { recursive: true });
  withFileLock(path, () => {
    const current = existsSync(path) ? readFileSync(path, "utf8") : "";
    if (current.replace(BLOCK, "").trim() !== "") {
      throw new Error(`${path} exists: the rehearsal will not replace a real RDS bundle; remove it or rehearse with a local runner`);
    }
    writeWhole(path, `${withoutBlock(current, runId)}${begin(runId)}\n${ca.endsWith("\n") ? ca : `${ca}\n`}${end(runId)}\n`);
  });
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    withFileLock(path, () => {
      if (!existsSync(path)) return;
      const rest = withoutBlock(readFileSync(path, "utf8"), runId);
      if (rest.trim() === "") rmSync(path, { force: true });
      else writeWhole(path, rest);
    });
  };
  onExit(remove);
  return remove;
}
