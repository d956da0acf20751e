/**
 * Runs every check group at once and puts their lines in a fixed order: BigCommerce, Dataverse (and
 * the IOM providers and flows behind it), the gateway, the File Drop, Key Vault, the policy link.
 * A group that throws unexpectedly becomes one failed line instead of ending the run; every secret
 * the doctor holds is redacted from the report as a last defence.
 */
import { checkBigCommerce } from "./bigcommerce";
import type { CheckContext, CheckGroup } from "./context";
import { line } from "./context";
import { checkDataverse } from "./dataverse";
import { checkFileDrop } from "./file-drop";
import { checkGateway } from "./gateway";
import { checkKeyVault } from "./key-vault";
import { checkPolicyLink } from "./policy-link";
import { buildReport, redactAll, type CheckLine, type DoctorReport } from "./report";
import { errorText } from "./services";

export const GROUPS: readonly { name: string; run: CheckGroup }[] = [
  { name: "BigCommerce", run: checkBigCommerce },
  { name: "Dataverse", run: checkDataverse },
  { name: "Gateway", run: checkGateway },
  { name: "File Drop", run: checkFileDrop },
  { name: "Key Vault", run: checkKeyVault },
  { name: "Policy link", run: checkPolicyLink },
];

function redactLine(l: CheckLine, secrets: readonly (string | undefined)[]): CheckLine {
  return JSON.parse(redactAll(JSON.stringify(l), secrets.map((s) => (s ? JSON.stringify(s).slice(1, -1) : s)))) as CheckLine;
}

export async function runDoctor(ctx: CheckContext, groups: readonly { name: string; run: CheckGroup }[] = GROUPS): Promise<DoctorReport> {
  const started = Date.now();
  const results = await Promise.all(
    groups.map(async (g) => {
      const t0 = Date.now();
      try {
        const lines = await g.run(ctx);
        ctx.progress(`${g.name}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        return lines;
      } catch (e) {
        return [line("doctor.internal", g.name, "", "fail", `the check itself failed: ${errorText(e)}`, "report this with the doctor's --json output")];
      }
    }),
  );
  const secrets = [...Object.values(ctx.target.secrets.bigcommerce).map((t) => t.token), ...ctx.secretsToRedact];
  return buildReport({
    stack: ctx.target.stack,
    checkedAt: ctx.now,
    durationMs: Date.now() - started,
    settings: { lookbackHours: ctx.lookbackHours, secretExpiryDays: ctx.secretExpiryDays },
    stores: ctx.target.config.bigcommerceStores,
    checks: results.flat().map((l) => redactLine(l, secrets)),
  });
}
