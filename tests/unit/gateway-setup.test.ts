/**
 * The gateway setup script, read with a PowerShell grammar (it cannot run here): every script
 * parses, nothing handed to a native program can be empty (Windows PowerShell 5.1, which Run
 * Command v2 uses, drops empty arguments), stage 1 and stage 2 agree on what they exchange, the
 * re-run decision is the table tests/support/gateway-setup-plan.ts models, and the gateway software
 * is installed in every mode by its own installer, without a signed-in session.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { Node, Tree } from "web-tree-sitter";
import { GATEWAY_SETUP_SCRIPT } from "../../components/dataGateway";
import { GATEWAY_SETUP_PLANS, localGatewayState, planGatewaySetup, type SetupMode } from "../support/gateway-setup-plan";
import { runProgram } from "../support/program";
import {
  commandsNamed, embeddedScripts, enclosingConditions, hashtableLiteral, membersRead, nativeCalls, parsePowerShell,
  scriptParameters, syntaxProblems,
} from "../support/powershell";
import { ROOT } from "../support/stack";

let main: Tree;
let stage2: Tree;
beforeAll(async () => {
  main = await parsePowerShell(GATEWAY_SETUP_SCRIPT);
  const embedded = embeddedScripts(main);
  expect(embedded).toHaveLength(1);
  stage2 = await parsePowerShell(embedded[0].body);
});

describe("every PowerShell script in the repository parses", () => {
  test("the grammar reports broken PowerShell, so a clean parse means something", async () => {
    expect(syntaxProblems(await parsePowerShell("if ($x { Write-Host 'a' }\n"), "broken").length).toBeGreaterThan(0);
    expect(syntaxProblems(await parsePowerShell("$a = \"unterminated\n"), "broken").length).toBeGreaterThan(0);
    expect(syntaxProblems(await parsePowerShell("$a = @{ k = 1 }\nif ($a.k -eq 1) { Write-Host 'ok' }\n"), "fine")).toEqual([]);
  });

  const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.ps1"], { cwd: ROOT, encoding: "utf8" })
    .split("\n").filter(Boolean);

  test("there are scripts to check", () => {
    expect(files).toContain("components/gateway-setup.ps1");
  });

  test.each(files)("%s and the scripts it embeds", async (file) => {
    const source = fs.readFileSync(path.join(ROOT, file), "utf8");
    const tree = await parsePowerShell(source);
    const problems = syntaxProblems(tree, file);
    for (const script of embeddedScripts(tree)) {
      problems.push(...syntaxProblems(await parsePowerShell(script.body), `${file} (here-string from line ${script.line})`));
    }
    expect(problems).toEqual([]);
  });
});

describe("no native program receives an argument that can be empty", () => {
  test("the checker finds the bug the setup had: optional parameters handed to pwsh one by one", async () => {
    const before = await parsePowerShell([
      "param([Parameter(Mandatory = $true)][string]$Mode, [string]$VaultName = \"\", [string]$RegionKey = \"\")",
      "$pwsh = \"C:\\Program Files\\PowerShell\\7\\pwsh.exe\"",
      "& $pwsh -NoProfile -File C:\\stage2.ps1 -Mode $Mode -VaultName $VaultName -RegionKey $RegionKey",
    ].join("\n"));
    const [call] = nativeCalls(before);
    expect(call.args.filter((a) => a.mayBeEmpty).map((a) => a.text)).toEqual(["$VaultName", "$RegionKey"]);
    expect(call.args.find((a) => a.text === "$Mode")?.mayBeEmpty).toBeUndefined(); // mandatory: PowerShell refuses empty
  });

  test("the setup's native calls (pwsh, msiexec) carry only values that cannot be empty", () => {
    const calls = [...nativeCalls(main), ...nativeCalls(stage2)];
    expect(calls.map((c) => c.program).sort()).toEqual(["$pwsh (\"C:\\Program Files\\PowerShell\\7\\pwsh.exe\")", "Start-Process $installer", "Start-Process msiexec.exe"]);
    for (const call of calls) {
      expect({ program: call.program, line: call.line, empty: call.args.filter((a) => a.mayBeEmpty) }).toEqual({ program: call.program, line: call.line, empty: [] });
    }
  });

  test("stage 2 takes exactly what stage 1 passes, as one mandatory parameter", () => {
    const pwsh = nativeCalls(main).find((c) => c.program.startsWith("$pwsh"));
    const passed = pwsh?.parameters.slice(pwsh.parameters.indexOf("-File") + 1).map((p) => p.slice(1).toLowerCase());
    const declared = scriptParameters(stage2);
    expect(passed).toEqual(declared.map((p) => p.name));
    for (const p of declared) expect(p).toMatchObject({ mandatory: true, allowsEmpty: false });
  });

  test("every setting stage 2 reads is one stage 1 writes", () => {
    const written = Object.keys(hashtableLiteral(main, "settings")).map((k) => k.toLowerCase());
    const read = membersRead(stage2, "settings").map((k) => k.toLowerCase());
    expect(read.length).toBeGreaterThan(5);
    expect(read.filter((k) => !written.includes(k))).toEqual([]);
  });
});

describe("re-running the setup does only what is missing", () => {
  test("the script's decision table is the modelled one", () => {
    expect(hashtableLiteral(stage2, "SetupPlans")).toEqual(GATEWAY_SETUP_PLANS);
  });

  test.each([
    ["Install-GatewaySoftware", '$steps -contains "install"'],
    ["Add-DataGatewayCluster", '$steps -contains "create"'],
    ["Add-DataGatewayClusterMember", '$steps -contains "join"'],
  ])("%s runs once, only when the plan says %s", (cmdlet, condition) => {
    const calls = commandsNamed(stage2, cmdlet);
    expect(calls).toHaveLength(1);
    expect(enclosingConditions(calls[0])[0]).toBe(condition);
  });

  /** A tenant and its machines, with the preconditions Microsoft documents for each cmdlet. */
  interface World { clusterMembers?: string[]; installed: Record<string, boolean> }
  const CLUSTER = "gw-iom-retail-prod-weu";

  function runSetup(world: World, computer: string, mode: SetupMode): string[] {
    const names = mode === "create" ? [computer, CLUSTER] : [computer];
    // prepare mode signs in to nothing, so it sees no cluster and no membership
    const listed = mode !== "prepare" && (world.clusterMembers ?? []).some((m) => names.includes(m));
    const cluster = mode === "prepare" ? "unknown" : world.clusterMembers ? "exists" : "missing";
    const plan = planGatewaySetup(mode, localGatewayState(world.installed[computer] ?? false, listed), cluster);
    if ("failure" in plan) throw new Error(plan.failure);
    for (const step of plan.steps) {
      if (step === "install") world.installed[computer] = true;
      // Add-DataGatewayCluster / Add-DataGatewayClusterMember: "once the gateway has been installed on a
      // machine", and a member must be a gateway that is not registered yet.
      if (!world.installed[computer]) throw new Error(`${step} on ${computer} before the gateway is installed`);
      if (listed) throw new Error(`${step} on ${computer}, which is already registered`);
      if (step === "create") world.clusterMembers = [CLUSTER];
      if (step === "join") world.clusterMembers = [...(world.clusterMembers ?? []), computer];
    }
    return plan.steps;
  }

  test("prepare installs the gateway software once and never registers anything", () => {
    const world: World = { installed: {} };
    expect(runSetup(world, "GW01", "prepare")).toEqual(["install"]);
    expect(runSetup(world, "GW01", "prepare")).toEqual([]);
    expect(world.clusterMembers).toBeUndefined();
    const prepareEntries = Object.entries(GATEWAY_SETUP_PLANS).filter(([key]) => key.startsWith("prepare/"));
    expect(prepareEntries).toEqual([["prepare/notInstalled/unknown", "install"], ["prepare/installedOnly/unknown", "none"]]);
    // a prepared node, registered later by an operator or by a service principal, is not installed again
    expect(runSetup(world, "GW01", "create")).toEqual(["create"]);
  });

  test("create, re-run, join, re-run: each run does only the missing steps", () => {
    const world: World = { installed: {} };
    expect(runSetup(world, "GW01", "create")).toEqual(["install", "create"]);
    expect(runSetup(world, "GW01", "create")).toEqual([]); // any later change of the Run Command
    expect(runSetup(world, "GW02", "join")).toEqual(["install", "join"]);
    expect(runSetup(world, "GW02", "join")).toEqual([]);
    expect(runSetup(world, "GW01", "create")).toEqual([]);
    expect(world.clusterMembers).toEqual([CLUSTER, "GW02"]);
  });

  test("an interrupted run resumes: installed but not registered only registers", () => {
    const world: World = { installed: { GW01: true } };
    expect(runSetup(world, "GW01", "create")).toEqual(["create"]);
    const joining: World = { installed: { GW02: true }, clusterMembers: [CLUSTER] };
    expect(runSetup(joining, "GW02", "join")).toEqual(["join"]);
  });

  test("a rebuilt first node joins the surviving cluster; a stale member stops with a clear reason", () => {
    const world: World = { installed: { GW02: true }, clusterMembers: ["GW02"] };
    expect(runSetup(world, "GW01", "create")).toEqual(["install", "join"]);
    expect(() => runSetup({ installed: {}, clusterMembers: ["GW02"] }, "GW02", "join")).toThrow("stale-member");
    expect(() => runSetup({ installed: {} }, "GW02", "join")).toThrow("no-cluster");
  });

  test("the model rejects what the previous script did on a re-run (install again, then join itself)", () => {
    const world: World = { installed: { GW01: true }, clusterMembers: [CLUSTER] };
    const previous = () => {
      world.installed.GW01 = true; // Install-DataGateway on every run
      if (world.clusterMembers?.includes(CLUSTER)) throw new Error("Add-DataGatewayClusterMember on GW01, which is already registered");
    };
    expect(previous).toThrow(/already registered/);
    expect(runSetup(world, "GW01", "create")).toEqual([]);
  });
});

describe("the gateway software is installed unattended, in every mode", () => {
  /** The nodes enclosing `node`, innermost first. */
  const ancestors = (node: Node): Node[] => {
    const found: Node[] = [];
    for (let n = node.parent; n; n = n.parent) found.push(n);
    return found;
  };

  test("no Install-DataGateway: it needs a signed-in session, which prepare mode does not have", () => {
    expect([...commandsNamed(main, "Install-DataGateway"), ...commandsNamed(stage2, "Install-DataGateway")]).toEqual([]);
  });

  test("prepare mode installs before it returns, and signs in to nothing", () => {
    const [install] = commandsNamed(stage2, "Install-GatewaySoftware");
    const [connect] = commandsNamed(stage2, "Connect-DataGatewayServiceAccount");
    const prepareReturn = stage2.rootNode.text.indexOf('if ($settings.Mode -eq "prepare") {\n  Write-Step "Prepared');
    expect(prepareReturn).toBeGreaterThan(install.startIndex);
    // the sign-in sits in the else branch of the prepare test
    const branch = ancestors(connect).find((n) => n.type === "else_clause");
    expect(branch?.parent?.childForFieldName("condition")?.text).toBe('$settings.Mode -eq "prepare"');
  });

  test("the installer comes from the configured URL, runs only when Microsoft signed it, with the configured arguments and a log, and must succeed", () => {
    const body = embeddedScripts(main)[0].body;
    const fn = body.slice(body.indexOf("function Install-GatewaySoftware"), body.indexOf("$SetupPlans = @{"));
    const download = fn.indexOf("Invoke-WebRequest -UseBasicParsing -Uri $settings.InstallerUrl -OutFile $installer");
    const signature = fn.indexOf("Get-AuthenticodeSignature -FilePath $installer");
    const refuse = fn.search(/if \(\$signature\.Status -ne "Valid" -or \$signer -notmatch "O=Microsoft Corporation"\) \{\s*throw/);
    const run = fn.indexOf("Start-Process -FilePath $installer -ArgumentList $installerArguments -Wait -PassThru");
    expect([download, signature, refuse, run].every((i) => i > 0)).toBe(true);
    expect(download < signature && signature < refuse && refuse < run).toBe(true);
    expect(fn).toContain('$installerArguments = "$($settings.InstallerArguments) /log `"$installLog`""');
    // 0, 3010 (restart required) and 1641 (restart started) are successes; anything else stops the run
    expect(fn).toMatch(/if \(@\(0, 3010, 1641\) -notcontains \$p\.ExitCode\) \{ throw/);
    // success is judged by the gateway service being there afterwards, too
    expect(fn).toMatch(/if \(-not \(Get-Service -Name PBIEgwService -ErrorAction SilentlyContinue\)\) \{\s*throw/);
  });

  test("stage 1 passes the installer's URL and arguments, as mandatory parameters, through the settings", () => {
    const declared = scriptParameters(main);
    for (const name of ["gatewayinstallerurl", "gatewayinstallerarguments"]) {
      expect(declared.find((p) => p.name === name)).toMatchObject({ mandatory: true, allowsEmpty: false });
    }
    expect(hashtableLiteral(main, "settings")).toMatchObject({ InstallerUrl: "$GatewayInstallerUrl", InstallerArguments: "$GatewayInstallerArguments" });
  });
});

describe("the Run Command hands the script no empty parameter", () => {
  const CLIENT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
  const TENANT = "f0e1d2c3-b4a5-4968-8776-655443322110";

  // Prepare mode passes only Mode and PowerShellVersion (tests/unit/stacks.test.ts); registration
  // without a region key or admins is where empty values used to go out.
  test("registration without a region key or admins", async () => {
    const run = await runProgram("prod", {
      set: { gatewayRegistrationClientId: CLIENT_ID, gatewayRegistrationTenantId: TENANT },
      secrets: { gatewayRegistrationClientSecret: "sp-secret-value" },
    });
    const commands = run.ofType("azure-native:compute:VirtualMachineRunCommandByVirtualMachine");
    expect(commands).toHaveLength(2);
    for (const command of commands) {
      const parameters = command.inputs.parameters as { name: string; value: unknown }[];
      expect(parameters.filter((p) => typeof p.value !== "string" || p.value === "")).toEqual([]);
      const declared = scriptParameters(main).map((p) => p.name);
      for (const p of parameters) expect(declared).toContain(p.name.toLowerCase());
    }
  });
});
