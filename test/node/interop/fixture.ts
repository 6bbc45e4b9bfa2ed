/**
 * Per-file fixture for the interop suites: one target (edge via `wrangler dev`, or Prosody with TARGET=prosody)
 * per test file, client factories that clean up after each test, and small XEP-0045 helpers.
 *
 * The edge limits new signaling connections to 300 per minute per client network (wrangler.toml SIGNALING_RATE_LIMITER),
 * and every test here connects from 127.0.0.1: keep each file well under 300 connections.
 */
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import {
  connectStanza,
  connectStrophe,
  connectXmppJs,
  disconnectStanza,
  NS,
  RawXmpp,
  startTarget,
  targetKindFromEnv,
  xml,
  type StanzaAgent,
  type StropheClient,
  type TargetKind,
  type XmppJs,
  type XmppJsElement,
  type XmppTarget,
} from "../helpers/xmpp-clients";

export interface InteropFixture {
  kind: TargetKind;
  turnSecret: string;
  /** available inside tests (started in beforeAll) */
  readonly target: XmppTarget;
  stanza(room: string): Promise<StanzaAgent>;
  xmppjs(room: string): Promise<XmppJs>;
  strophe(room: string): Promise<StropheClient>;
  raw(room: string): Promise<RawXmpp>;
}

export function useInteropTarget(): InteropFixture {
  const kind = targetKindFromEnv();
  const turnSecret = `interop-turn-${randomUUID()}`;
  let target: XmppTarget | undefined;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    target = await startTarget(kind, { turnSecret, vars: { TURN_HOST: "127.0.0.1" } });
  });
  afterEach(async () => {
    await Promise.allSettled(cleanups.splice(0).map((f) => f()));
  });
  afterAll(async () => {
    await target?.stop();
  });

  const t = (): XmppTarget => {
    if (!target) throw new Error("target not started");
    return target;
  };
  return {
    kind,
    turnSecret,
    get target() {
      return t();
    },
    async stanza(room) {
      const c = await connectStanza(t(), room);
      cleanups.push(() => disconnectStanza(c));
      return c;
    },
    async xmppjs(room) {
      const c = await connectXmppJs(t(), room);
      cleanups.push(() => c.stop());
      return c;
    },
    async strophe(room) {
      const c = await connectStrophe(t(), room);
      cleanups.push(() => c.disconnect());
      return c;
    },
    async raw(room) {
      const c = await RawXmpp.login(t().wsUrl(room), t().domain);
      cleanups.push(async () => (c.isClosed ? undefined : c.close()));
      return c;
    },
  };
}

/** xmpp.js: join with a MUC presence (XEP-0045 §7.2) and wait for the self-presence (110) and the subject. */
export async function joinXmppJs(c: XmppJs, roomJid: string, nick: string, password?: string): Promise<XmppJsElement> {
  const x = xml("x", { xmlns: NS.muc }, xml("history", { maxstanzas: "0" }));
  if (password !== undefined) x.children.push(xml("password", {}, password));
  await c.xmpp.send(xml("presence", { to: `${roomJid}/${nick}` }, x));
  const self = await c.waitFor(
    (el) =>
      el.name === "presence" &&
      el.attrs.from === `${roomJid}/${nick}` &&
      (el.attrs.type === "error" || xjsStatusCodes(el).includes("110")),
    15_000,
    `self-presence ${roomJid}/${nick}`,
  );
  if (self.attrs.type !== "error") {
    await c.waitFor(
      (el) => el.name === "message" && el.attrs.from === roomJid && !!el.getChild("subject"),
      15_000,
      "join subject",
    );
  }
  return self;
}

/** XEP-0045 §10.2: the owner fetches the configuration form, then submits it with muc#roomconfig_roomsecret. */
export async function setPassword(owner: StanzaAgent, roomJid: string, password: string): Promise<void> {
  const form = await owner.getRoomConfig(roomJid);
  expect(form.fields?.some((f) => f.name === "muc#roomconfig_roomsecret")).toBe(true);
  await owner.configureRoom(roomJid, {
    type: "submit",
    fields: [
      { name: "FORM_TYPE", type: "hidden", value: "http://jabber.org/protocol/muc#roomconfig" },
      { name: "muc#roomconfig_passwordprotectedroom", type: "boolean", value: true },
      { name: "muc#roomconfig_roomsecret", type: "text-private", value: password },
    ],
  });
}

export function xjsStatusCodes(el: XmppJsElement): string[] {
  return el
    .getChildren("x", NS.mucUser)
    .flatMap((x) => x.getChildren("status"))
    .map((s) => s.attrs.code ?? "");
}

export function fullJidPattern(domain: string): RegExp {
  return new RegExp(`^[^@/]+@${domain.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/.+$`);
}
