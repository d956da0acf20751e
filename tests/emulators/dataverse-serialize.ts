/**
 * Serialize the IomMappingSet provider exactly as `pulumi.dynamic.Resource` does
 * (`runtime.serializeFunction(() => provider, { allowSecrets: true })`) and write the text to
 * argv[2]. Run in a plain Node process (`node -r ts-node/register/transpile-only`), not under jest,
 * whose module registry differs from Node's.
 */
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { iomMappingSetProvider } from "../../dynamic-providers/dataverse";

void (async () => {
  const sf = await pulumi.runtime.serializeFunction(() => iomMappingSetProvider, { allowSecrets: true });
  fs.writeFileSync(process.argv[2], sf.text);
  process.stdout.write(JSON.stringify({ bytes: sf.text.length, containsSecrets: sf.containsSecrets }));
})().catch((e: Error) => {
  process.stderr.write(String(e.stack ?? e));
  process.exit(1);
});
