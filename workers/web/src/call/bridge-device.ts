/**
 * mediasoup-client's device for the bridge (bridge.ts): the browser's handler with its RTP capabilities computed once
 * per page, and the receive-transport tweak we rely on.
 */
import { detectDevice, type types } from "mediasoup-client";
import { Chrome111 } from "mediasoup-client/handlers/Chrome111";
import { Chrome74 } from "mediasoup-client/handlers/Chrome74";
import { Firefox120 } from "mediasoup-client/handlers/Firefox120";
import type { HandlerFactory } from "mediasoup-client/handlers/HandlerInterface";
import { Safari12 } from "mediasoup-client/handlers/Safari12";

/**
 * `Device.load()` asks the browser for its own RTP capabilities with a throw-away RTCPeerConnection and createOffer()
 * per direction: tenths of a second on a busy machine, on the switch's critical path. They never change within a page, so we
 * compute them once, ahead of time (when this module is prefetched), and the device then loads in JS time.
 */
const HANDLERS: Partial<Record<string, () => HandlerFactory>> = {
  Chrome111: () => Chrome111.createFactory(),
  Chrome74: () => Chrome74.createFactory(),
  Firefox120: () => Firefox120.createFactory(),
  Safari12: () => Safari12.createFactory(),
};
let cachedFactory: HandlerFactory | null | undefined; // null: unknown browser, let mediasoup-client decide

export function handlerFactory(): HandlerFactory | undefined {
  if (cachedFactory !== undefined) return cachedFactory ?? undefined;
  const name = detectDevice();
  const make = name ? HANDLERS[name] : undefined;
  if (!make) {
    cachedFactory = null;
    return undefined;
  }
  const base = make();
  const caps = new Map<string, Promise<types.RtpCapabilities>>();
  cachedFactory = {
    name: base.name,
    factory: base.factory,
    getNativeRtpCapabilities(o) {
      let p = caps.get(o.direction);
      if (!p) {
        p = base.getNativeRtpCapabilities(o);
        caps.set(o.direction, p);
        p.catch(() => caps.delete(o.direction)); // retried on next use
      }
      return p; // Device.load() clones what it gets
    },
    getNativeSctpCapabilities: () => base.getNativeSctpCapabilities(),
  };
  return cachedFactory;
}

/** Compute the browser's RTP capabilities in the background (idempotent); done when this module is imported. */
export function prepareBridge(): void {
  const f = handlerFactory();
  if (!f || typeof RTCPeerConnection === "undefined") return;
  for (const direction of ["recvonly", "sendonly"] as const) f.getNativeRtpCapabilities({ direction }).catch(() => undefined);
}

/**
 * mediasoup-client follows the first video consumer with a second SDP renegotiation of the receive transport, for an
 * extra "probator" m-section (the bridge's bandwidth probing, RTP on SSRC 1234). Every other consumer created in the
 * meantime waits behind it: in a switch, that is the next person's video, after a renegotiation that takes a few
 * hundred milliseconds when three pages share the CPU. Probing serves simulcast layer selection: the bridge moves a
 * receiver up to a larger layer only once it has probed that the link carries it. So this is used only with simulcast
 * off (simulcast.ts), when every camera is one encoding (the probing packets are then dropped by the browser, as for
 * any unknown m-section).
 * No public option exists: this sets mediasoup-client's own "already created" flag (checked: 3.18.7), and does nothing
 * if a later version renamed it.
 */
export function skipProbator(t: types.Transport): void {
  const flags = t as unknown as { _probatorConsumerCreated?: boolean };
  if (flags._probatorConsumerCreated === false) flags._probatorConsumerCreated = true;
}
