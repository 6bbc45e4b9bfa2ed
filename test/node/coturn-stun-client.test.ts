/**
 * The STUN/TURN stream client's codec (bridge-host/coturn/stun-client.ts), against the RFC 5769 test vectors.
 */
import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  Attr,
  Class,
  decode,
  decodeXorAddress,
  encode,
  encodeXorAddress,
  errorCode,
  longTermKey,
  messageType,
  Method,
  StunError,
  StunStream,
  verifyIntegrity,
} from "../../bridge-host/coturn/stun-client";
import { Duplex } from "node:stream";

// RFC 5769 test vectors (short-term credential password "VOkJxbRl1RmTxUk/WvJxBt").
const RFC5769_REQUEST =
  "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf";
const RFC5769_IPV4_RESPONSE =
  "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96";
const RFC5769_KEY = Buffer.from("VOkJxbRl1RmTxUk/WvJxBt");

describe("STUN/TURN stream client codec (bridge-host/coturn/stun-client.ts)", () => {
  it("RFC 5769 §2.1 sample request: decodes, MESSAGE-INTEGRITY verifies, USERNAME read", () => {
    const m = decode(Buffer.from(RFC5769_REQUEST, "hex"));
    expect([m.method, m.cls]).toEqual([Method.Binding, Class.Request]);
    expect(m.transactionId.toString("hex")).toBe("b7e7a701bc34d686fa87dfae");
    expect(m.attributes.find((a) => a.type === Attr.USERNAME)?.value.toString()).toBe("evtj:h6vY");
    expect(verifyIntegrity(m, RFC5769_KEY)).toBe(true);
    expect(verifyIntegrity(m, Buffer.from("wrong"))).toBe(false);
  });

  it("RFC 5769 §2.2 sample IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853, integrity checked, tampering detected", () => {
    const raw = Buffer.from(RFC5769_IPV4_RESPONSE, "hex");
    const m = decode(raw);
    expect([m.method, m.cls]).toEqual([Method.Binding, Class.Success]);
    const x = m.attributes.find((a) => a.type === Attr.XOR_MAPPED_ADDRESS)!.value;
    expect(decodeXorAddress(x, m.transactionId)).toEqual({ family: 4, address: "192.0.2.1", port: 32853 });
    expect(encodeXorAddress({ address: "192.0.2.1", port: 32853 }, m.transactionId).equals(x)).toBe(true);
    expect(verifyIntegrity(m, RFC5769_KEY)).toBe(true);
    const tampered = Buffer.from(raw);
    tampered[40] = tampered[40]! ^ 1; // inside XOR-MAPPED-ADDRESS
    expect(verifyIntegrity(decode(tampered), RFC5769_KEY)).toBe(false);
  });

  it("encodes messages whose MESSAGE-INTEGRITY verifies; message types per RFC 8489 §5 / RFC 8656 §17", () => {
    const key = longTermKey("1700086400", "parley", "pw");
    expect(key.toString("hex")).toBe(createHash("md5").update("1700086400:parley:pw").digest("hex"));
    const tid = randomBytes(12);
    const raw = encode({ method: Method.Allocate, cls: Class.Request, transactionId: tid, attributes: [{ type: Attr.USERNAME, value: Buffer.from("abcde") }] }, key);
    expect(raw.length % 4).toBe(0);
    const m = decode(raw);
    expect(m.attributes.map((a) => a.type)).toEqual([Attr.USERNAME, Attr.MESSAGE_INTEGRITY]);
    expect(m.attributes[0]!.value.toString()).toBe("abcde");
    expect(verifyIntegrity(m, key)).toBe(true);
    expect(verifyIntegrity(m, longTermKey("1700086400", "parley", "pW"))).toBe(false);
    expect(messageType(Method.Allocate, Class.Request)).toBe(0x0003);
    expect(messageType(Method.Allocate, Class.Success)).toBe(0x0103);
    expect(messageType(Method.Allocate, Class.Error)).toBe(0x0113);
    expect(messageType(Method.CreatePermission, Class.Request)).toBe(0x0008);
    expect(messageType(Method.Send, Class.Indication)).toBe(0x0016);
    expect(messageType(Method.Data, Class.Indication)).toBe(0x0017);
  });

  it("XOR addresses round-trip for IPv4 and IPv6; ERROR-CODE decodes; malformed input is refused", () => {
    const tid = randomBytes(12);
    for (const a of [{ address: "127.0.0.1", port: 3478 }, { address: "2001:db8::1", port: 443 }, { address: "::1", port: 65535 }]) {
      const v = encodeXorAddress(a, tid);
      expect(decodeXorAddress(v, tid)).toEqual({ family: a.address.includes(":") ? 6 : 4, ...a });
    }
    const err = decode(encode({ method: Method.Allocate, cls: Class.Error, transactionId: tid, attributes: [{ type: Attr.ERROR_CODE, value: Buffer.concat([Buffer.from([0, 0, 4, 1]), Buffer.from("Unauthorized")]) }] }));
    expect(errorCode(err)).toEqual({ code: 401, reason: "Unauthorized" });
    const good = Buffer.from(RFC5769_IPV4_RESPONSE, "hex");
    const badCookie = Buffer.from(good);
    badCookie[4] = 0;
    expect(() => decode(badCookie)).toThrow(/magic cookie/);
    expect(() => decode(good.subarray(0, good.length - 4))).toThrow(StunError);
    expect(() => decode(good.subarray(0, 10))).toThrow(StunError);
    expect(() => decodeXorAddress(Buffer.from([0, 3, 0, 0, 1, 2, 3, 4]), tid)).toThrow(StunError);
  });

  it("frames a byte stream into messages however it is split, and matches responses by transaction id", async () => {
    const written: Buffer[] = [];
    const sock = new Duplex({ read() {}, write(chunk: Buffer, _enc, cb) { written.push(chunk); cb(); } });
    const stream = new StunStream(sock);
    const done = stream.binding(5000);
    const req = decode(written[0]!);
    expect([req.method, req.cls]).toEqual([Method.Binding, Class.Request]);
    const reply = (mapped: { address: string; port: number }, tid: Buffer) =>
      encode({ method: Method.Binding, cls: Class.Success, transactionId: tid, attributes: [{ type: Attr.XOR_MAPPED_ADDRESS, value: encodeXorAddress(mapped, tid) }] });
    // a ChannelData frame (ignored), a response to someone else, then ours, delivered one byte at a time
    const bytes = Buffer.concat([
      Buffer.from([0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0]),
      reply({ address: "10.0.0.1", port: 1 }, randomBytes(12)),
      reply({ address: "192.0.2.7", port: 4242 }, req.transactionId),
    ]);
    for (const b of bytes) sock.push(Buffer.from([b]));
    expect((await done).mapped).toEqual({ family: 4, address: "192.0.2.7", port: 4242 });
    // garbage fails the waiters with a clear error
    const next = stream.binding(5000);
    sock.push(Buffer.from([0xff, 0, 0, 0]));
    await expect(next).rejects.toThrow(/neither STUN nor ChannelData/);
  });
});
