/**
 * What Windows PowerShell 5.1 can run, checked on a tree-sitter tree of PowerShell (see
 * powershell.ts). The grammar reads PowerShell 7, so a clean parse does not mean 5.1 can run a
 * script: this walks the tree and reports, each with the rule and its source, the syntax 5.1 lacks,
 * commands and parameters its cmdlet reference does not list, and 5.1 behaviours that bite.
 *
 * Commands and parameters are checked against windows-powershell-51-cmdlets.json, Microsoft's
 * cmdlet reference for 5.1 (MicrosoftDocs/PowerShell-Docs reference/5.1, written by
 * scripts/windows-powershell-cmdlets.ts). The rules below name their own sources.
 */
import type { Node, Tree } from "web-tree-sitter";
import { assignments, core, nativeProgram, walk } from "./powershell";
import table from "./windows-powershell-51-cmdlets.json";

export interface Finding {
  rule: string;
  line: number;
  text: string;
  why: string;
}

interface CmdletEntry { parameters: Record<string, { aliases: string[]; acceptedValues?: string[] }>; commonParameters: boolean }
const CMDLETS = new Map(Object.entries(table.cmdlets as Record<string, CmdletEntry>).map(([name, c]) => [name.toLowerCase(), { name, ...c }]));
const LATER_CMDLETS = new Map(Object.entries(table.laterCmdlets as Record<string, string>).map(([name, note]) => [name.toLowerCase(), note]));
const LATER_PARAMETERS = table.laterParameters as Record<string, Record<string, string>>;

// 5.1 about_CommonParameters (its page also lists -ProgressAction, "added in PowerShell 7.4": left out).
const COMMON_PARAMETERS: Record<string, string[]> = {
  Debug: ["db"], ErrorAction: ["ea"], ErrorVariable: ["ev"], InformationAction: ["infa"], InformationVariable: ["iv"],
  OutBuffer: ["ob"], OutVariable: ["ov"], PipelineVariable: ["pv"], Verbose: ["vb"], WarningAction: ["wa"], WarningVariable: ["wv"],
};

/** Automatic and preference variables that PowerShell 6+ added; 5.1 reads them as undefined ($null). */
const LATER_VARIABLES: Record<string, string> = {
  // about_Automatic_Variables 7.6 lists these; the 5.1 page does not (added with PowerShell 6.0).
  iswindows: "about_Automatic_Variables (PowerShell 6+); in 5.1 $IsWindows is $null, so `if ($IsWindows)` is false on Windows",
  islinux: "about_Automatic_Variables (PowerShell 6+)",
  ismacos: "about_Automatic_Variables (PowerShell 6+)",
  iscoreclr: "about_Automatic_Variables (PowerShell 6+)",
  // about_ANSI_Terminals / about_Automatic_Variables 7.6: $PSStyle came with PowerShell 7.2.
  psstyle: "about_Automatic_Variables 7.6 ($PSStyle, PowerShell 7.2+)",
  // about_Preference_Variables 7.6: both came with PowerShell 7.3; setting them in 5.1 changes nothing.
  psnativecommandargumentpassing: "about_Preference_Variables 7.6 (PowerShell 7.3+)",
  psnativecommanduseerroractionpreference: "about_Preference_Variables 7.6 (PowerShell 7.3+); in 5.1 a native program's exit code never stops the script",
};

/** Cmdlets that write a file, with what 5.1 writes when no -Encoding is given. */
const DEFAULT_ENCODING: Record<string, string> = {
  "out-file": "UTF-16LE (Out-File 5.1: 'The default value is unicode')",
  "set-content": "the ANSI code page (Set-Content 5.1: 'The default value is Default')",
  "add-content": "the ANSI code page (Add-Content 5.1: 'The default value is Default')",
};

const text = (n: Node) => n.text;
const lineOf = (n: Node) => n.startPosition.row + 1;

function commandName(command: Node): string {
  return command.childForFieldName("command_name")?.text ?? "";
}

function commandElements(command: Node): Node[] {
  return (command.childForFieldName("command_elements")?.namedChildren ?? []).filter((e): e is Node => !!e && e.type !== "command_argument_sep");
}

/** `-Name` or `-Name:` as the parameter name. */
const parameterName = (p: Node) => p.text.replace(/^-/, "").replace(/:$/, "");

/** The parameter a name binds to (exact name or alias, else a unique prefix, as PowerShell binds), or why none. */
function bindParameter(cmdlet: { name: string } & CmdletEntry, given: string): { name?: string; problem?: string } {
  const names = new Map<string, string>();
  const all = { ...cmdlet.parameters, ...(cmdlet.commonParameters ? Object.fromEntries(Object.entries(COMMON_PARAMETERS).map(([n, aliases]) => [n, { aliases }])) : {}) };
  for (const [name, { aliases }] of Object.entries(all)) {
    names.set(name.toLowerCase(), name);
    for (const alias of aliases) names.set(alias.toLowerCase(), name);
  }
  const lower = given.toLowerCase();
  const exact = names.get(lower);
  if (exact) return { name: exact };
  const prefixed = new Set([...names].filter(([n]) => n.startsWith(lower)).map(([, target]) => target));
  if (prefixed.size === 1) return { name: [...prefixed][0] };
  if (prefixed.size > 1) return { problem: `-${given} is ambiguous for ${cmdlet.name} (${[...prefixed].join(", ")})` };
  const later = Object.entries(LATER_PARAMETERS[cmdlet.name] ?? {}).find(([n]) => n.toLowerCase() === lower);
  return { problem: `${cmdlet.name} has no -${given} in Windows PowerShell 5.1 (its 5.1 reference page)${later ? `; PowerShell 7.6 reference: "${later[1]}"` : ""}` };
}

function functionsDefined(tree: Tree): Set<string> {
  const names = new Set<string>();
  walk(tree.rootNode, (n) => {
    if (n.type === "function_statement") {
      const name = n.namedChildren.find((c) => c?.type === "function_name");
      if (name) names.add(name.text.toLowerCase());
    }
  });
  return names;
}

/** The statement (a pipeline or flow-control statement directly in a statement list) holding a node. */
function statementOf(node: Node): Node {
  let n = node;
  while (n.parent && n.parent.type !== "statement_list") n = n.parent;
  return n;
}

function nextStatement(statement: Node): Node | undefined {
  for (let n = statement.nextNamedSibling; n; n = n.nextNamedSibling) if (n.type !== "empty_statement" && n.type !== "comment") return n;
  return undefined;
}

/** The value last assigned to `$name` before a position, by document order (enough for straight-line setup code). */
function valueBefore(tree: Tree, name: string, position: number): string | undefined {
  const values = (assignments(tree).get(name) ?? []).filter((v) => v.startIndex < position);
  return values.at(-1)?.text;
}

export interface CheckOptions {
  /** Commands from modules this code imports first (not in-box cmdlets): name -> why it is available. */
  extraCommands?: Record<string, string>;
}

/** Everything in `tree` that Windows PowerShell 5.1 cannot run as written, or runs differently from PowerShell 7. */
export function windowsPowerShell51Findings(tree: Tree, options: CheckOptions = {}): Finding[] {
  const findings: Finding[] = [];
  const reportAt = (rule: string, node: Node, why: string, shown = text(node)) =>
    findings.push({ rule, line: lineOf(node), text: shown.split("\n")[0].slice(0, 80), why });
  const report = reportAt;
  const source = tree.rootNode.text;
  // Assignments to [Net.ServicePointManager]::SecurityProtocol, in document order.
  const protocolSettings: Node[] = [];
  walk(tree.rootNode, (n) => {
    if (n.type === "assignment_expression" && /^\[(System\.)?Net\.ServicePointManager\]::SecurityProtocol$/i.test(n.namedChildren[0]?.text.trim() ?? "")) protocolSettings.push(n);
  });

  // --- Syntax that 5.1's parser rejects. tree-sitter-powershell does not parse the ?-operators
  // either, so they show up as ERROR nodes; anything else it cannot parse is reported as unchecked.
  const errors: Node[] = [];
  const collectErrors = (n: Node) => {
    if (n.type === "ERROR" || n.isError) { errors.push(n); return; }
    for (const child of n.children) if (child) collectErrors(child);
  };
  collectErrors(tree.rootNode);
  for (const error of errors) {
    const errorLine = source.split("\n")[error.startPosition.row] ?? error.text;
    const report = (rule: string, node: Node, why: string) => reportAt(rule, node, why, errorLine.trim());
    const at = error.text.indexOf("?");
    const after = at >= 0 ? source.slice(error.startIndex + at, error.startIndex + at + 3) : "";
    if (at >= 0 && after.startsWith("??=")) {
      // about_Operators 7.6 "Null-coalescing assignment operator ??="; differences-from-windows-powershell "Language changes".
      report("null-coalescing-assignment", error, "`??=` is PowerShell 7.0+ (about_Operators); 5.1: Unexpected token '??='");
    } else if (at >= 0 && after.startsWith("??")) {
      // about_Operators 7.6 "Null-coalescing operator ??"; differences-from-windows-powershell "Language changes".
      report("null-coalescing", error, "`??` is PowerShell 7.0+ (about_Operators); 5.1: Unexpected token '??'");
    } else if (at >= 0 && after.startsWith("?.")) {
      // about_Operators 7.6 "Null-conditional operators ?. and ?[]": "moved from experimental to mainstream in PowerShell 7.1".
      report("null-conditional-member", error, "`?.` is PowerShell 7.1+ (about_Operators); in 5.1 `$x?.Name` reads the variable named 'x?'");
    } else if (at >= 0 && after.startsWith("?[")) {
      // about_Operators 7.6, same section.
      report("null-conditional-index", error, "`?[]` is PowerShell 7.1+ (about_Operators)");
    } else if (at >= 0) {
      // about_Operators 7.6 "Ternary operator ? <if-true> : <if-false>"; the 5.1 about_Operators has no such operator.
      report("ternary", error, "`a ? b : c` is PowerShell 7.0+ (about_Operators); 5.1: Unexpected token '?'");
    } else if (/&\s*$/.test(error.text)) {
      // about_Operators 7.6 "Background operator &" (PowerShell 6.0+); 5.1 reserves a trailing & ("The ampersand (&) character is not allowed").
      report("background-operator", error, "a pipeline ending in `&` runs as a job in PowerShell 6.0+ only (about_Operators)");
    } else {
      report("unparsed", error, "the grammar cannot read this, so it is not checked for Windows PowerShell 5.1");
    }
  }

  const functions = functionsDefined(tree);
  const assigned = assignments(tree);
  walk(tree.rootNode, (n) => {
    // about_Pipeline_Chain_Operators 7.6: "Beginning in PowerShell 7, PowerShell implements the && and || operators".
    if (n.type === "pipeline_chain_tail") report("pipeline-chain", n, `\`${n.text.trim()}\` between pipelines is PowerShell 7.0+ (about_Pipeline_Chain_Operators); 5.1: not a valid statement separator`, n.parent?.text ?? n.text);

    // about_Special_Characters 7.6: `e "Escape (added in PowerShell 6)", `u{x} "Unicode escape sequence (added in PowerShell 6)";
    // 5.1 reads them as plain "e" / "u{x}".
    if (n.type === "expandable_string_literal" || n.type === "expandable_here_string_literal") {
      const escape = /(?:^|[^`])(?:``)*`(e|u\{[0-9A-Fa-f]+\})/.exec(n.text);
      if (escape) report("escape-sequence", n, `\`${escape[1]} is an escape in PowerShell 6+ only (about_Special_Characters); 5.1 writes the letters`);
    }

    if (n.type === "variable") {
      const name = n.text.replace(/^\$/, "").replace(/^\{|\}$/g, "").toLowerCase();
      if (LATER_VARIABLES[name]) report("later-variable", n, `${n.text}: ${LATER_VARIABLES[name]}`);
    }

    // about_Redirection 5.1: `>` "is functionally equivalent to piping to Out-File with no extra parameters", and
    // Out-File 5.1 defaults to unicode (UTF-16LE). (The 5.1 page's own "UTF8NoBOM" sentence describes PowerShell 7.)
    if (n.type === "redirection" && n.namedChildren.some((c) => c?.type === "file_redirection_operator")) {
      const target = n.namedChildren.find((c) => c?.type === "redirected_file_name")?.text.trim();
      if (target && !/^\$null$/i.test(target)) report("default-encoding", n, "`>`/`>>` is Out-File without -Encoding: UTF-16LE in 5.1, UTF-8 in PowerShell 7 (about_Redirection, Out-File 5.1)", n.parent?.parent?.text ?? n.text);
    }

    if (n.type !== "command") return;
    const name = commandName(n);
    const elements = commandElements(n);

    // about_Numeric_Literals 7.6: suffixes y, uy, s, us, u, ul "Added in PowerShell 6.2", n "Added in PowerShell 7.0";
    // binary 0b literals are not in the 5.1 page. 5.1 takes such a token for a command name.
    if (/^(0b[01]+|\d+(uy|us|ul|y|s|u|n))$/i.test(name)) {
      report("numeric-literal", n, `${name} is a PowerShell 6.2+/7.0 numeric literal (about_Numeric_Literals); 5.1 runs it as a command`);
      return;
    }

    // The grammar takes some expressions (`1..3 | ...`) and keywords in a chain (`|| exit 1`) for command names.
    if (/^\d/.test(name) || /^(exit|return|throw|break|continue)$/i.test(name)) return;

    const native = nativeProgram(n, assigned);
    const cmdlet = CMDLETS.get(name.toLowerCase());
    if (!native && !cmdlet && !functions.has(name.toLowerCase()) && !options.extraCommands?.[name]) {
      const later = LATER_CMDLETS.get(name.toLowerCase());
      report("command", n, `${name} is not a cmdlet of Windows PowerShell 5.1's in-box modules (5.1 reference) nor a function of this script` +
        (later ? `; PowerShell 7.6 reference: "${later}"` : " (aliases are not resolved: write the cmdlet's name)"));
    }

    if (cmdlet) {
      const bound = new Map<string, Node | undefined>();
      elements.forEach((e, i) => {
        if (e.type !== "command_parameter") return;
        const result = bindParameter(cmdlet, parameterName(e));
        if (result.problem) report("parameter", e, result.problem, `${name} ${e.text}`);
        if (result.name) bound.set(result.name, elements[i + 1]?.type === "command_parameter" ? undefined : elements[i + 1]);
      });
      // 5.1 cmdlet reference, "Accepted values" of -Encoding (no utf8NoBOM/utf8BOM, no code page numbers).
      const encoding = bound.get("Encoding");
      const accepted = cmdlet.parameters.Encoding?.acceptedValues;
      if (encoding && accepted && ["generic_token", "string_literal"].includes(core(encoding).type)) {
        const value = core(encoding).text.replace(/^["']|["']$/g, "");
        if (!accepted.some((a) => a.toLowerCase() === value.toLowerCase())) {
          report("encoding-value", encoding, `${name} -Encoding ${value}: 5.1 accepts ${accepted.join(", ")} (its 5.1 reference page)`, `${name} -Encoding ${value}`);
        }
      }
      const lower = cmdlet.name.toLowerCase();
      if (DEFAULT_ENCODING[lower] && !bound.has("Encoding")) {
        report("default-encoding", n, `${cmdlet.name} without -Encoding writes ${DEFAULT_ENCODING[lower]}; PowerShell 7 writes UTF-8, so a file both write is mixed`);
      }
      // Tee-Object 5.1 NOTES: "Tee-Object uses "Unicode" (UTF-16LE) encoding when it writes to files"; -Encoding came in 7.2.
      if (lower === "tee-object" && (bound.has("FilePath") || bound.has("LiteralPath"))) {
        report("default-encoding", n, "Tee-Object writes files in UTF-16LE in 5.1 and has no -Encoding there (Tee-Object 5.1 NOTES); PowerShell 7 writes UTF-8");
      }
      // Invoke-WebRequest 5.1, -UseBasicParsing: "required when Internet Explorer is not installed on the computers,
      // such as on a Server Core installation of a Windows Server operating system".
      if (lower === "invoke-webrequest" && !bound.has("UseBasicParsing")) {
        report("basic-parsing", n, "Invoke-WebRequest without -UseBasicParsing needs Internet Explorer's engine in 5.1, absent on Server Core (Invoke-WebRequest 5.1)");
      }
      // PowerShell Gallery "Troubleshooting cmdlets": the Gallery "requires TLS 1.2 or higher" and Windows PowerShell must
      // add it with [Net.ServicePointManager]::SecurityProtocol = ... -bor [Net.SecurityProtocolType]::Tls12
      // (.NET Framework 4.x, which 5.1 runs on, may not offer TLS 1.2 by default).
      if (lower === "invoke-webrequest" || lower === "invoke-restmethod" || lower === "install-module" || lower === "install-packageprovider") {
        const protocol = protocolSettings.filter((a) => a.startIndex < n.startIndex).at(-1)?.childForFieldName("value")?.text;
        if (!protocol || !/Tls12|3072/i.test(protocol)) {
          report("tls12", n, `${cmdlet.name} before [Net.ServicePointManager]::SecurityProtocol includes Tls12: .NET Framework may offer only TLS 1.0/1.1 (PowerShell Gallery troubleshooting)`);
        }
      }
    }

    // about_Automatic_Variables $LASTEXITCODE and about_Preference_Variables 7.6 $PSNativeCommandUseErrorActionPreference
    // (7.3+): in 5.1 a failing native program does not stop the script, whatever $ErrorActionPreference says.
    if (native && !/^Start-Process/i.test(native)) {
      const next = nextStatement(statementOf(n));
      if (!next || !/\$LASTEXITCODE/i.test(next.text)) {
        report("native-exit-code", n, `${native}: the next statement must check $LASTEXITCODE (5.1 ignores a native program's exit code)`);
      }
      // differences-from-windows-powershell: "Make $ErrorActionPreference not affect stderr output of native commands"
      // (PowerShell 7.2). In 5.1, under "Stop", a native program's first stderr line captured as an error ends the script.
      const preference = valueBefore(tree, "erroractionpreference", n.startIndex);
      if (preference && /^["']?stop["']?$/i.test(preference.trim())) {
        report("native-stderr", n, `${native} runs under $ErrorActionPreference = ${preference}: in 5.1 its stderr, when captured, becomes a terminating error before $LASTEXITCODE is read`);
      }
    }
    if (native && /^Start-Process/i.test(native)) {
      const params = elements.filter((e) => e.type === "command_parameter").map((e) => parameterName(e).toLowerCase());
      const statement = statementOf(n);
      const target = /^\s*(\$\w+)\s*=/.exec(statement.text)?.[1];
      const next = nextStatement(statement);
      if (!params.includes("wait") || !params.includes("passthru") || !target || !next || !next.text.toLowerCase().includes(`${target.toLowerCase()}.exitcode`)) {
        report("native-exit-code", n, "Start-Process of a native program: use -Wait -PassThru, keep the process and check its ExitCode in the next statement");
      }
    }
  });
  return findings;
}

/** Characters outside ASCII, which Windows PowerShell 5.1 misreads in a script file saved without a BOM. */
export function nonAsciiFindings(source: string): Finding[] {
  // about_Character_Encoding: "Without the BOM, Windows PowerShell misinterprets your script as being encoded in the
  // legacy "ANSI" codepage." How Run Command stores the script on the VM is not documented, so: ASCII only.
  const findings: Finding[] = [];
  source.split("\n").forEach((line, i) => {
    const m = /[^\t\r -~]/.exec(line); // anything but tab, CR and printable ASCII
    if (m) findings.push({ rule: "non-ascii", line: i + 1, text: line.trim().slice(0, 80), why: `U+${m[0].codePointAt(0)?.toString(16).toUpperCase().padStart(4, "0")} is not printable ASCII; Windows PowerShell 5.1 reads a file without BOM as ANSI (about_Character_Encoding)` });
  });
  return findings;
}
