/**
 * The part of the gateway setup that Windows PowerShell 5.1 runs uses only what 5.1 has.
 *
 * Where the boundary is (components/gateway-setup.ps1, delivered whole as `source.script` of a Run
 * Command v2 by components/dataGateway.ts; Run Command executes it with Windows PowerShell 5.1):
 *   - 5.1 runs the whole file except the body of the one verbatim here-string `$stage2 = @'...'@`:
 *     the param block, the TLS and log setup, Write-Step, step 1 (download and install PowerShell 7 with
 *     Invoke-WebRequest and msiexec), writing the here-string to %ProgramData%\iom-gateway-stage2.ps1
 *     (Set-Content), building the base64 settings (ConvertTo-Json) and starting `& $pwsh -File` on it,
 *     the exit-code check and the last Write-Step.
 *   - 5.1 also *reads* the here-string's body (it parses the whole file, and a verbatim here-string is
 *     not expanded), so the file as a whole must be plain ASCII, but it does not run it.
 *   - PowerShell 7 (pwsh.exe) runs the here-string's body, stage 2: the DataGateway module, Key Vault,
 *     the decision table. Nothing else reaches pwsh: no -Command, no -EncodedCommand.
 * The first describe block proves that boundary on the script; the rest checks the 5.1 side with
 * tests/support/windows-powershell.ts, whose rules name their sources (Microsoft's PowerShell docs).
 */
import * as fs from "fs";
import * as path from "path";
import type { Tree } from "web-tree-sitter";
import { GATEWAY_SETUP_SCRIPT } from "../../components/dataGateway";
import { assignments, commandsNamed, embeddedScripts, nativeCalls, parsePowerShell } from "../support/powershell";
import { ROOT } from "../support/stack";
import { nonAsciiFindings, windowsPowerShell51Findings, type Finding } from "../support/windows-powershell";
import table from "../support/windows-powershell-51-cmdlets.json";

let stage1: Tree;
beforeAll(async () => {
  stage1 = await parsePowerShell(GATEWAY_SETUP_SCRIPT);
});

async function findings(source: string): Promise<Finding[]> {
  return [...windowsPowerShell51Findings(await parsePowerShell(source)), ...nonAsciiFindings(source)];
}

describe("what Windows PowerShell 5.1 runs, and what it hands to PowerShell 7", () => {
  test("the Run Command's script is this file", () => {
    expect(GATEWAY_SETUP_SCRIPT).toBe(fs.readFileSync(path.join(ROOT, "components", "gateway-setup.ps1"), "utf8"));
  });

  test("stage 2 is the one verbatim here-string, written to a file that only pwsh -File runs", () => {
    const embedded = embeddedScripts(stage1);
    expect(embedded).toHaveLength(1);
    const stage2 = assignments(stage1).get("stage2") ?? [];
    expect(stage2.map((v) => v.text.startsWith("@'"))).toEqual([true]); // @'...'@: 5.1 neither expands nor runs it

    const writes = commandsNamed(stage1, "Set-Content");
    expect(writes.map((w) => w.text)).toEqual([expect.stringMatching(/-Path \$stage2Path -Value \$stage2\b/)]);

    const pwsh = nativeCalls(stage1).filter((c) => c.program.startsWith("$pwsh"));
    expect(pwsh).toHaveLength(1);
    const params = pwsh[0].parameters.map((p) => p.toLowerCase());
    expect(params).toContain("-file");
    expect(params.filter((p) => ["-command", "-c", "-encodedcommand", "-ec"].includes(p))).toEqual([]);
    expect(pwsh[0].args.map((a) => a.text)).toContain("$stage2Path");
    for (const cmd of ["Invoke-Expression", "Invoke-Command", "Start-Job"]) expect(commandsNamed(stage1, cmd)).toEqual([]);
  });
});

describe("the setup's Windows PowerShell 5.1 part uses only what 5.1 has", () => {
  test("the cmdlet table is Microsoft's 5.1 reference", () => {
    expect(Object.keys(table.cmdlets).length).toBeGreaterThan(250);
    const params = (cmdlet: string) => Object.keys((table.cmdlets as Record<string, { parameters: object }>)[cmdlet].parameters);
    expect(params("ConvertFrom-Json")).toEqual(["InputObject"]);
    expect(params("Invoke-WebRequest")).toContain("UseBasicParsing");
    expect(params("Tee-Object")).not.toContain("Encoding");
  });

  test("stage 1 has no PowerShell 6+/7 construct and none of the 5.1 behaviours that bite", () => {
    expect(windowsPowerShell51Findings(stage1)).toEqual([]);
  });

  test("the file 5.1 reads is plain ASCII", () => {
    expect(nonAsciiFindings(GATEWAY_SETUP_SCRIPT)).toEqual([]);
  });

  test("the check looks at stage 1's commands, not at stage 2's", async () => {
    // Stage 2 calls DataGateway and PowerShellGet cmdlets that 5.1's in-box modules lack; they are not stage 1's.
    const stage2 = await parsePowerShell(embeddedScripts(stage1)[0].body);
    expect(windowsPowerShell51Findings(stage2).filter((f) => f.rule === "command").length).toBeGreaterThan(3);
  });
});

const TLS = "[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12\n";
const EXE = '$exe = "C:\\Tools\\setup.exe"\n';

/** [what, PowerShell 7 code, rule it breaks, the 5.1 way]; each row's source is the rule's comment in windows-powershell.ts. */
const CASES: [string, string, string, string][] = [
  // about_Operators 7.6 / differences-from-windows-powershell "Language changes"
  ["null-coalescing ??", '$name = $value ?? "default"', "null-coalescing", '$name = if ($null -ne $value) { $value } else { "default" }'],
  ["null-coalescing assignment ??=", '$value ??= "default"', "null-coalescing-assignment", 'if ($null -eq $value) { $value = "default" }'],
  ["null-conditional member ?.", "$id = ${cluster}?.Id", "null-conditional-member", "$id = if ($cluster) { $cluster.Id } else { $null }"],
  ["null-conditional index ?[]", "$first = ${items}?[0]", "null-conditional-index", "$first = if ($items) { $items[0] } else { $null }"],
  ["ternary", '$state = $installed ? "installed" : "missing"', "ternary", '$state = if ($installed) { "installed" } else { "missing" }'],
  // about_Pipeline_Chain_Operators 7.6
  ["pipeline chain &&", 'Test-Path -Path C:\\x && Write-Output "yes"', "pipeline-chain", 'if (Test-Path -Path C:\\x) { Write-Output "yes" }'],
  ["pipeline chain ||", 'Get-Item -Path C:\\x || Write-Output "none"', "pipeline-chain", 'try { Get-Item -Path C:\\x } catch { Write-Output "none" }'],
  // about_Operators 7.6 "Background operator &"
  ["background operator &", "Get-Process &", "background-operator", "Start-Job -ScriptBlock { Get-Process }"],
  // about_Special_Characters 7.6
  ["`e escape", '"`e[1mbold"', "escape-sequence", '"$([char]27)[1mbold"'],
  ["`u{} escape", '"`u{2713} done"', "escape-sequence", '"$([char]0x2713) done"'],
  // about_Numeric_Literals 7.6
  ["binary literal", "$mask = 0b101", "numeric-literal", "$mask = 5"],
  ["u suffix", "$n = 10u", "numeric-literal", "$n = [uint32]10"],
  // about_Automatic_Variables / about_Preference_Variables 7.6
  ["$IsWindows", 'if ($IsWindows) { Write-Output "win" }', "later-variable", 'if ($env:OS -eq "Windows_NT") { Write-Output "win" }'],
  ["$PSNativeCommandUseErrorActionPreference", `$PSNativeCommandUseErrorActionPreference = $true\n${EXE}& $exe /quiet\nif ($LASTEXITCODE -ne 0) { throw "failed" }`,
    "later-variable", `${EXE}& $exe /quiet\nif ($LASTEXITCODE -ne 0) { throw "failed" }`],
  // 5.1 cmdlet reference pages (parameters), 7.6 pages for when they came
  ["ConvertFrom-Json -AsHashtable", "$h = $json | ConvertFrom-Json -AsHashtable", "parameter", "$h = $json | ConvertFrom-Json"],
  ["ConvertFrom-Json -Depth", "$o = $json | ConvertFrom-Json -Depth 20", "parameter", "$o = $json | ConvertFrom-Json"],
  ["ConvertTo-Json -AsArray", "$j = ConvertTo-Json -InputObject $x -AsArray", "parameter", "$j = ConvertTo-Json -InputObject @($x)"],
  ["ForEach-Object -Parallel", "$ids | ForEach-Object -Parallel { $_ }", "parameter", "$ids | ForEach-Object -Process { $_ }"],
  ["Invoke-RestMethod -SkipHttpErrorCheck", `${TLS}$r = Invoke-RestMethod -Uri $u -SkipHttpErrorCheck`, "parameter",
    `${TLS}try { $r = Invoke-RestMethod -Uri $u } catch { $r = $_.Exception.Response }`],
  ["Invoke-RestMethod -StatusCodeVariable", `${TLS}$r = Invoke-RestMethod -Uri $u -StatusCodeVariable code`, "parameter", `${TLS}$r = Invoke-WebRequest -UseBasicParsing -Uri $u`],
  ["Invoke-RestMethod -Authentication", `${TLS}$r = Invoke-RestMethod -Uri $u -Authentication Bearer -Token $t`, "parameter",
    `${TLS}$r = Invoke-RestMethod -Uri $u -Headers @{ Authorization = "Bearer $plain" }`],
  ["Invoke-WebRequest -Resume", `${TLS}Invoke-WebRequest -UseBasicParsing -Uri $u -OutFile $f -Resume`, "parameter", `${TLS}Invoke-WebRequest -UseBasicParsing -Uri $u -OutFile $f`],
  ["Invoke-WebRequest -SkipCertificateCheck", `${TLS}Invoke-WebRequest -UseBasicParsing -Uri $u -SkipCertificateCheck`, "parameter", `${TLS}Invoke-WebRequest -UseBasicParsing -Uri $u`],
  ["Get-Content -AsByteStream", "$b = Get-Content -Path $f -AsByteStream", "parameter", "$b = Get-Content -Path $f -Encoding Byte"],
  ["Set-Content -AsByteStream", "Set-Content -Path $f -Value $b -AsByteStream", "parameter", "Set-Content -Path $f -Value $b -Encoding Byte"],
  ["Start-Process -Environment", `$p = Start-Process -FilePath cmd.exe -ArgumentList "/c exit" -Environment @{ A = "1" } -Wait -PassThru\nif ($p.ExitCode -ne 0) { throw "failed" }`,
    "parameter", `$env:A = "1"\n$p = Start-Process -FilePath cmd.exe -ArgumentList "/c exit" -Wait -PassThru\nif ($p.ExitCode -ne 0) { throw "failed" }`],
  ["Out-File -Encoding utf8NoBOM", "$t | Out-File -FilePath $f -Encoding utf8NoBOM", "encoding-value", "[IO.File]::WriteAllText($f, $t)"],
  // 5.1 reference has no page for these cmdlets; 7.6 pages say when they came
  ["Test-Json", "$ok = Test-Json -Json $json", "command", "try { $null = $json | ConvertFrom-Json; $ok = $true } catch { $ok = $false }"],
  ["Join-String", "$s = $ids | Join-String -Separator ','", "command", "$s = $ids -join ','"],
  ["Get-Error", "Get-Error", "command", "$Error[0] | Format-List -Property * -Force"],
  ["an alias", "gci -Path C:\\", "command", "Get-ChildItem -Path C:\\"],
  // Behaviours of 5.1 (sources in windows-powershell.ts)
  ["Tee-Object to a file (UTF-16LE)", '"x" | Tee-Object -FilePath $log -Append', "default-encoding", '[IO.File]::AppendAllText($log, "x")'],
  ["Out-File without -Encoding (UTF-16LE)", '"x" | Out-File -FilePath $log', "default-encoding", '"x" | Out-File -FilePath $log -Encoding UTF8'],
  ["Set-Content without -Encoding (ANSI)", "Set-Content -Path $f -Value $t", "default-encoding", "Set-Content -Path $f -Value $t -Encoding UTF8"],
  ["redirection to a file (UTF-16LE)", "Get-Date > $log", "default-encoding", "Get-Date | Out-File -FilePath $log -Encoding UTF8"],
  ["Invoke-WebRequest without -UseBasicParsing", `${TLS}Invoke-WebRequest -Uri $u -OutFile $f`, "basic-parsing", `${TLS}Invoke-WebRequest -UseBasicParsing -Uri $u -OutFile $f`],
  ["a web call before TLS 1.2 is enabled", "$r = Invoke-RestMethod -Uri $u", "tls12", `${TLS}$r = Invoke-RestMethod -Uri $u`],
  ["a native exit code nobody reads", `${EXE}& $exe /quiet\nWrite-Output "done"`, "native-exit-code", `${EXE}& $exe /quiet\nif ($LASTEXITCODE -ne 0) { throw "failed" }`],
  ["Start-Process without its exit code", 'Start-Process msiexec.exe -Wait -ArgumentList "/i x.msi /qn"', "native-exit-code",
    '$p = Start-Process msiexec.exe -Wait -PassThru -ArgumentList "/i x.msi /qn"\nif ($p.ExitCode -ne 0) { throw "failed" }'],
  ["a native program under $ErrorActionPreference Stop", `$ErrorActionPreference = "Stop"\n${EXE}& $exe /quiet\nif ($LASTEXITCODE -ne 0) { throw "failed" }`, "native-stderr",
    `$ErrorActionPreference = "Stop"\n${EXE}$ErrorActionPreference = "Continue"\n& $exe /quiet\n$code = $LASTEXITCODE\n$ErrorActionPreference = "Stop"\nif ($code -ne 0) { throw "failed" }`],
  // about_Character_Encoding
  ["a non-ASCII character", 'Write-Output "Gateway \u2013 ready"', "non-ascii", 'Write-Output "Gateway - ready"'],
];

describe("the checker reports every PowerShell 7-only construct and 5.1 pitfall, and passes the 5.1 way", () => {
  test.each(CASES)("%s", async (_what, ps7, rule, ps51) => {
    expect((await findings(ps7)).map((f) => f.rule)).toContain(rule);
    expect(await findings(ps51)).toEqual([]);
  });

  test("a finding names the line and says why", async () => {
    const [finding] = await findings("Write-Output 'a'\n$h = $json | ConvertFrom-Json -AsHashtable\n");
    expect(finding).toMatchObject({ rule: "parameter", line: 2 });
    expect(finding.why).toMatch(/ConvertFrom-Json has no -AsHashtable in Windows PowerShell 5\.1.*introduced in PowerShell 6\.0/);
  });

  test("parameters bind as PowerShell binds them: aliases, unique prefixes, common parameters", async () => {
    expect(await findings("Get-ChildItem -Path C:\\ -Recurse -ea SilentlyContinue -ErrorVariable e")).toEqual([]);
    expect(await findings("Get-ChildItem -Pa C:\\")).toEqual([]); // -Path's only prefix match
    expect((await findings("Get-ChildItem -ProgressAction SilentlyContinue")).map((f) => f.rule)).toEqual(["parameter"]); // common only since 7.4
    expect(await findings("Get-Date -F o")).toEqual([]); // -Format: -UFormat does not start with F
    expect((await findings("Get-ChildItem -Fi x")).map((f) => f.why)).toEqual([expect.stringMatching(/ambiguous.*File, Filter/)]);
  });
});
