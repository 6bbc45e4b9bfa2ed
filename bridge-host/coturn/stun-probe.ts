/**
 * Minimal STUN Binding client (RFC 8489 §6, §5: 20-byte header, magic cookie 0x2112A442) used to tell when
 * coturn is ready (UDP) and as a health probe. Binding needs no credentials (no `secure-stun`).
 * Only the header is checked: a Binding success response (0x0101) echoing our transaction id.
 */
import { createSocket } from "node:dgram";
import { randomBytes } from "node:crypto";
import { isIP } from "node:net";

const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const MAGIC_COOKIE = 0x2112a442;

export function bindingRequest(transactionId: Buffer): Buffer {
  if (transactionId.length !== 12) throw new TypeError("STUN transaction id must be 12 bytes");
  const b = Buffer.alloc(20);
  b.writeUInt16BE(BINDING_REQUEST, 0);
  b.writeUInt16BE(0, 2); // no attributes
  b.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(b, 8);
  return b;
}

export function isBindingSuccess(msg: Buffer, transactionId: Buffer): boolean {
  return (
    msg.length >= 20 &&
    msg.readUInt16BE(0) === BINDING_SUCCESS &&
    msg.readUInt32BE(4) === MAGIC_COOKIE &&
    msg.subarray(8, 20).equals(transactionId)
  );
}

/** Send one Binding request over UDP; resolves true on a matching success response within timeoutMs. */
export function stunBindingUdp(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket(isIP(host) === 6 ? "udp6" : "udp4");
    const tid = randomBytes(12);
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on("error", () => finish(false));
    sock.on("message", (msg) => {
      if (isBindingSuccess(msg, tid)) finish(true);
    });
    sock.send(bindingRequest(tid), port, host, (err) => {
      if (err) finish(false);
    });
  });
}
