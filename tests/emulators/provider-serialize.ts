/**
 * Serialize one of this project's dynamic providers exactly as `pulumi.dynamic.Resource` does
 * (`runtime.serializeFunction(() => provider, { allowSecrets: true })`) and write the text to
 * argv[3]. argv[2] names the provider. Run in a plain Node process (`node -r
 * ts-node/register/transpile-only`), not under jest, whose module registry differs from Node's.
 */
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { iomProviderParametersProvider } from "../../dynamic-providers/iom-provider";
import { powerPlatformPolicyLinkProvider } from "../../dynamic-providers/power-platform";

const providers: Record<string, pulumi.dynamic.ResourceProvider> = {
  "iom-provider-parameters": iomProviderParametersProvider as unknown as pulumi.dynamic.ResourceProvider,
  "power-platform-policy-link": powerPlatformPolicyLinkProvider as unknown as pulumi.dynamic.ResourceProvider,
};

void (async () => {
  const provider = providers[process.argv[2]];
  if (!provider) throw new Error(`unknown provider ${process.argv[2]} (known: ${Object.keys(providers).join(", ")})`);
  const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  fs.writeFileSync(process.argv[3], sf.text);
  process.stdout.write(JSON.stringify({ bytes: sf.text.length, containsSecrets: sf.containsSecrets }));
})().catch((e: Error) => {
  process.stderr.write(String(e.stack ?? e));
  process.exit(1);
});
