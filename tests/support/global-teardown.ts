/** Jest's globalTeardown: stops the program server global-setup.ts started. */
import type { ChildProcess } from "child_process";
import { SERVER_HANDLE } from "./global-setup";

export default function globalTeardown(): void {
  const server = (globalThis as Record<symbol, ChildProcess | undefined>)[SERVER_HANDLE];
  server?.stdin?.end(); // the server exits when its stdin ends
  server?.kill();
}
