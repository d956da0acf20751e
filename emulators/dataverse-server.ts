/**
 * Run the Dataverse emulator in its own process (so a benchmark measures the client's time and
 * memory, not the emulator's). Options as JSON in argv[2]; `products` seeds that many products.
 * Prints `{"url": ...}` on the first line of stdout.
 */
import { DataverseEmulator, EmulatorOptions } from "./dataverse";
import { seedEmulator } from "./dataverse-fixtures";

const opts = JSON.parse(process.argv[2] ?? "{}") as EmulatorOptions & { products?: number };
const emu = new DataverseEmulator(opts);
void emu.start().then((url) => {
  const seeded = seedEmulator(emu, opts.products ?? 0);
  emu.settle(); // the seeded rows in key order before the first read, as a loaded table's index is
  process.stdout.write(`${JSON.stringify({ url, providerId: seeded.providerId, groupId: seeded.groupId })}\n`);
});
process.on("SIGTERM", () => void emu.stop().then(() => process.exit(0)));
