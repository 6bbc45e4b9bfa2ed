/**
 * Free loopback ports for coturn's listener (tests and `npm run bench:turn`): coturn listens on TCP and UDP, so a
 * port must be free for both; `outside` keeps it out of the relay port range.
 */
import { createSocket } from "node:dgram";
import { createServer } from "node:net";

export async function freeUdpTcpPort(outside?: { min: number; max: number }): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => {
        const a = s.address();
        const p = typeof a === "object" && a ? a.port : 0;
        s.close(() => resolve(p));
      });
    });
    if (outside && port >= outside.min && port <= outside.max) continue;
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket("udp4");
      u.once("error", () => resolve(false));
      u.bind(port, "127.0.0.1", () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error("no free UDP+TCP port");
}
