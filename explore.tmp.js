const { Parser, Language } = require("web-tree-sitter");
const fs = require("fs");
(async () => {
  await Parser.init();
  const lang = await Language.load(require.resolve("tree-sitter-powershell/tree-sitter-powershell.wasm"));
  const p = new Parser(); p.setLanguage(lang);
  const errs = (src, label) => { const t = p.parse(src); const out=[]; const walk=(n)=>{ if (n.isError || n.isMissing) out.push(`${label}:${n.startPosition.row+1}:${n.startPosition.column+1} ${n.isMissing?'missing '+n.type:'error'} ${n.text.slice(0,40)}`); for (const c of n.children) walk(c); }; walk(t.rootNode); return [t,out]; };
  const src = fs.readFileSync(process.argv[2], "utf8");
  const [tree, e] = errs(src, "main"); console.log(e);
  const walk = (n, f) => { f(n); for (const c of n.namedChildren) walk(c, f); };
  walk(tree.rootNode, (n) => { if (n.type === "verbatim_here_string_characters") { const body = n.text.replace(/^@'\r?\n/, "").replace(/\r?\n'@$/, ""); console.log(errs(body, "stage2")[1]); } });
})();
