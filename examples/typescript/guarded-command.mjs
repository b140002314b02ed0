#!/usr/bin/env node
// Ask a human before running a command, with the TypeScript client (docs/typescript.md).
//
//   export HESO_ENDPOINT=http://127.0.0.1:5000 HESO_API_KEY=heso_…   # an agent key
//   node examples/typescript/guarded-command.mjs --approver ops@example.com -- df -h
//
// The command runs only when approved; modified to {"command": [...]} that command runs
// instead; denied or cancelled, it exits 1; unanswered within --timeout seconds, 2.
// (In your own project: `import { HesoClient } from "@heso/client"`.)
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";

import { HesoClient, WaitTimeout } from "../../clients/typescript/dist/index.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { approver: { type: "string" }, timeout: { type: "string", default: "600" } },
});
if (!values.approver || positionals.length === 0) {
  console.error("usage: guarded-command.mjs --approver EMAIL [--timeout SECONDS] -- COMMAND [ARGS…]");
  process.exit(64);
}

const heso = new HesoClient(); // HESO_API_KEY and HESO_ENDPOINT
const timeout = Number(values.timeout);
const asked = await heso.createDecision({
  action: `Run: ${positionals.join(" ")}`, approver: values.approver, urgency: "medium",
  timeoutMinutes: Math.max(1, Math.ceil(timeout / 60)), context: { command: positionals, cwd: process.cwd() },
});
console.log(`Decision ${asked.id} is pending; waiting for ${values.approver} …`);

let decision;
try {
  decision = await heso.waitForDecision(asked.id, { timeout });
} catch (error) {
  if (!(error instanceof WaitTimeout)) throw error;
  await heso.cancelDecision(asked.id, "No answer in time.");
  console.error(`No answer within ${timeout} s: not run.`);
  process.exit(2);
}

let command = positionals;
if (decision.status === "modified" && Array.isArray(decision.modifiedAction?.command)) {
  command = decision.modifiedAction.command.map(String);
  console.log(`Modified by ${decision.resolvedBy}: running ${command.join(" ")} instead.`);
} else if (decision.status !== "approved") {
  console.error(`${decision.status} by ${decision.resolvedBy ?? "nobody"}${decision.responseNotes ? `: ${decision.responseNotes}` : ""}; not run.`);
  process.exit(decision.status === "expired" ? 2 : 1);
}
const ran = spawnSync(command[0], command.slice(1), { stdio: "inherit" });
process.exit(ran.status ?? 1);
