/**
 * `npx ts-node --swc scripts/windows-powershell-cmdlets.ts <PowerShell-Docs checkout> [commit]`
 *
 * Writes tests/support/windows-powershell-51-cmdlets.json: every cmdlet of Windows PowerShell 5.1's
 * in-box modules with its parameters, their aliases and accepted values, as Microsoft's cmdlet
 * reference states them (MicrosoftDocs/PowerShell-Docs, reference/5.1/<module>/<cmdlet>.md). For a
 * parameter that exists only in PowerShell 7, the 7.6 page's "introduced in PowerShell x" sentence is
 * kept too, so a finding can say since when. The test for code run by Windows PowerShell 5.1
 * (tests/unit/gateway-setup-ps51.test.ts) checks commands and parameters against this table.
 */
import * as fs from "fs";
import * as path from "path";

/** Modules Windows Server 2022 loads without an install (the 5.1 reference's own module folders). */
const MODULES = [
  "Microsoft.PowerShell.Core", "Microsoft.PowerShell.Management", "Microsoft.PowerShell.Utility", "Microsoft.PowerShell.Security",
  "Microsoft.PowerShell.Archive", "Microsoft.PowerShell.Diagnostics", "Microsoft.PowerShell.Host", "CimCmdlets", "Microsoft.WSMan.Management",
];

export interface DocumentedParameter { aliases: string[]; acceptedValues?: string[] }
export interface DocumentedCmdlet { module: string; parameters: Record<string, DocumentedParameter>; commonParameters: boolean }
export interface CmdletTable {
  source: string;
  cmdlets: Record<string, DocumentedCmdlet>;
  /** Parameters of PowerShell 7.6's cmdlets that 5.1's lack, with the sentence saying when they came. */
  laterParameters: Record<string, Record<string, string>>;
  /** Cmdlets of PowerShell 7.6's modules that 5.1 lacks, with the sentence saying when they came. */
  laterCmdlets: Record<string, string>;
}

function parameters(markdown: string): Record<string, DocumentedParameter & { introduced?: string }> {
  const result: Record<string, DocumentedParameter & { introduced?: string }> = {};
  const body = markdown.split(/^## PARAMETERS$/m)[1]?.split(/^## INPUTS$/m)[0] ?? "";
  for (const section of body.split(/^### /m).slice(1)) {
    const heading = /^-(\w+)/.exec(section);
    if (!heading) continue;
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
    const aliases = /^Aliases:[ \t]*(.*)$/m.exec(yaml)?.[1].split(",").map((a) => a.trim()).filter(Boolean) ?? [];
    const accepted = /^Accepted values:[ \t]*(.*)$/m.exec(yaml)?.[1].split(",").map((a) => a.trim()).filter(Boolean);
    const introduced = /(?:This parameter was|was) (?:introduced|added) in (?:Windows )?PowerShell [\d.]+/i.exec(section)?.[0];
    result[heading[1]] = { aliases, ...(accepted ? { acceptedValues: accepted } : {}), ...(introduced ? { introduced } : {}) };
  }
  return result;
}

function cmdletPages(reference: string, version: string): Map<string, { module: string; markdown: string }> {
  const pages = new Map<string, { module: string; markdown: string }>();
  for (const module of MODULES) {
    const dir = path.join(reference, version, module);
    if (!fs.existsSync(dir)) continue;
    for (const file of fs.readdirSync(dir).filter((f) => /^[A-Z][A-Za-z]+-[A-Za-z]+\.md$/.test(f)).sort()) {
      pages.set(file.replace(/\.md$/, ""), { module, markdown: fs.readFileSync(path.join(dir, file), "utf8").replace(/\r\n/g, "\n") });
    }
  }
  return pages;
}

export function cmdletTable(docsCheckout: string, commit: string): CmdletTable {
  const reference = path.join(docsCheckout, "reference");
  const v51 = cmdletPages(reference, "5.1");
  const v76 = cmdletPages(reference, "7.6");
  const table: CmdletTable = {
    source: `MicrosoftDocs/PowerShell-Docs@${commit} reference/5.1 (and reference/7.6 for what came later)`,
    cmdlets: {}, laterParameters: {}, laterCmdlets: {},
  };
  for (const [name, page] of v51) {
    const params = parameters(page.markdown);
    table.cmdlets[name] = {
      module: page.module,
      parameters: Object.fromEntries(Object.entries(params).map(([p, { aliases, acceptedValues }]) => [p, { aliases, ...(acceptedValues ? { acceptedValues } : {}) }])),
      commonParameters: /^### CommonParameters$/m.test(page.markdown),
    };
  }
  for (const [name, page] of v76) {
    const known = table.cmdlets[name];
    if (!known) {
      table.laterCmdlets[name] = /This cmdlet was (?:introduced|added) in PowerShell [\d.]+/i.exec(page.markdown)?.[0] ?? "not in the Windows PowerShell 5.1 reference";
      continue;
    }
    const later = Object.entries(parameters(page.markdown)).filter(([p]) => !known.parameters[p]);
    if (later.length > 0) table.laterParameters[name] = Object.fromEntries(later.map(([p, { introduced }]) => [p, introduced ?? "not in the Windows PowerShell 5.1 reference"]));
  }
  return table;
}

if (require.main === module) {
  const [checkout, commit = "unknown"] = process.argv.slice(2);
  if (!checkout) throw new Error("usage: windows-powershell-cmdlets.ts <PowerShell-Docs checkout> [commit]");
  const out = path.join(__dirname, "..", "tests", "support", "windows-powershell-51-cmdlets.json");
  const table = cmdletTable(checkout, commit);
  // One cmdlet a line: small, and a regenerated table diffs by cmdlet.
  const lines = (record: object) => Object.entries(record).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(",\n");
  fs.writeFileSync(out, `{\n "source": ${JSON.stringify(table.source)},\n "cmdlets": {\n${lines(table.cmdlets)}\n },\n` +
    ` "laterParameters": {\n${lines(table.laterParameters)}\n },\n "laterCmdlets": {\n${lines(table.laterCmdlets)}\n }\n}\n`);
  console.log(`${Object.keys(table.cmdlets).length} cmdlets of Windows PowerShell 5.1, ${Object.keys(table.laterCmdlets).length} later cmdlets -> ${path.relative(process.cwd(), out)}`);
}
