/**
 * The edge's client for a bridge host's control API (bridge-host/PROTOCOL.md): signed requests
 * (contract/signed-request.ts: each bridge's own key, derived from BRIDGE_SECRET and its control URL, and the
 * bridge's authority signed), zod-validated responses, short timeouts.
 */
import { z } from "zod";
import { bridgeControlKey, signRequest } from "../../contract/signed-request";
import type { BridgeHealth } from "./selection";

const HealthSchema = z.object({ ok: z.boolean(), load: z.number().min(0).max(1).catch(1) }).loose();
const CreateRoomSchema = z.object({ room: z.string(), wsUrl: z.string().regex(/^wss?:\/\//) });

export type CreatedRoom = z.output<typeof CreateRoomSchema>;

class BridgeError extends Error {
  override name = "BridgeError";
}

export interface BridgeControlOptions {
  secret: string;
  timeoutMs?: number;
  /** injectable for tests (defaults to global fetch) */
  fetch?: typeof fetch;
}

export class BridgeControl {
  readonly #secret: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  /** control base URL -> its key (bridgeControlKey) */
  readonly #keys = new Map<string, Promise<string>>();

  constructor(opts: BridgeControlOptions) {
    this.#secret = opts.secret;
    this.#timeoutMs = opts.timeoutMs ?? 3000;
    this.#fetch = opts.fetch ?? ((...a) => fetch(...a));
  }

  #key(base: string): Promise<string> {
    let k = this.#keys.get(base);
    if (!k) this.#keys.set(base, (k = bridgeControlKey(this.#secret, base)));
    return k;
  }

  async #call(base: string, method: string, path: string, body?: unknown, timeoutMs = this.#timeoutMs): Promise<Response> {
    const text = body === undefined ? "" : JSON.stringify(body);
    const headers: Record<string, string> = await signRequest(await this.#key(base), method, new URL(base).host, path, text);
    if (body !== undefined) headers["content-type"] = "application/json";
    const url = base.replace(/\/+$/, "") + path;
    try {
      return await this.#fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : text,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new BridgeError(`bridge ${base} unreachable: ${(e as Error).message}`);
    }
  }

  /** `timeoutMs`: shorter than the default for a quick check (a bridge someone reported, media-coordinator.ts). */
  async health(base: string, timeoutMs?: number): Promise<BridgeHealth> {
    try {
      const r = await this.#call(base, "GET", "/health", undefined, timeoutMs);
      if (!r.ok) return { base, healthy: false, load: 1 };
      const h = HealthSchema.safeParse(await r.json());
      return h.success ? { base, healthy: h.data.ok, load: h.data.load } : { base, healthy: false, load: 1 };
    } catch {
      return { base, healthy: false, load: 1 };
    }
  }

  async createRoom(base: string, room: string): Promise<CreatedRoom> {
    const r = await this.#call(base, "POST", "/v1/rooms", { room });
    if (!r.ok) throw new BridgeError(`bridge ${base} refused room creation: ${r.status} ${await r.text()}`);
    const parsed = CreateRoomSchema.safeParse(await r.json());
    if (!parsed.success) throw new BridgeError(`bridge ${base} sent an invalid room: ${parsed.error.message}`);
    return parsed.data;
  }

  async closeRoom(base: string, room: string): Promise<void> {
    const r = await this.#call(base, "DELETE", `/v1/rooms/${encodeURIComponent(room)}`);
    if (!r.ok && r.status !== 404) throw new BridgeError(`bridge ${base} refused room close: ${r.status}`);
  }

  async kick(base: string, room: string, nick: string): Promise<void> {
    const r = await this.#call(base, "POST", `/v1/rooms/${encodeURIComponent(room)}/kick`, { nick });
    if (!r.ok && r.status !== 404) throw new BridgeError(`bridge ${base} refused kick: ${r.status}`);
  }

  /**
   * Close lobby connections (bridge-host/PROTOCOL.md "Lobby"): those of the sessions with these lobby ids
   * (contract/grants.ts lobbyIdFor), or all of them (the room was locked).
   */
  async evictLobby(base: string, room: string, which: { lids: string[] } | { all: true }): Promise<void> {
    const r = await this.#call(base, "POST", `/v1/rooms/${encodeURIComponent(room)}/lobby/evict`, which);
    if (!r.ok && r.status !== 404) throw new BridgeError(`bridge ${base} refused lobby eviction: ${r.status}`);
  }
}
