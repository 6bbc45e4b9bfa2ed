/**
 * One MLS group (RFC 9420) per call, through ts-mls, cipher suite 1 MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519.
 * Everything that crosses the wire is an encoded MLSMessage (§6): KeyPackage, Commit (as a PrivateMessage, so the
 * room sees its group, epoch and content type but not its sender), Welcome, GroupInfo.
 *
 *  - A member's credential is a BasicCredential (§5.3) carrying the identity the room gives it (its occupant id).
 *  - Commits are created "pending": the committer applies its own only once the Delivery Service accepted it
 *    (§14: exactly one commit per epoch wins); a refused one is dropped and the next commit retried on the new epoch.
 *  - Welcomes carry the ratchet tree (ratchet_tree extension, §12.4.3.3), so a newcomer needs nothing else.
 *  - Frame keys: `MLS-Exporter("SFrame 1.0 Base Key", "", 16)` per epoch (RFC 9605 §5.2) with the leaf count and own
 *    leaf index the KID layout needs (frame-keys.ts).
 *  - Safety code: the epoch_authenticator (§8.7), the same for every member of an epoch, shown as 6 groups of 5
 *    digits: users who read the same code share the same keys and the same member list.
 */
import {
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  makePskIndex,
  mlsExporter,
  processPrivateMessage,
  type CiphersuiteImpl,
  type ClientState,
  type KeyPackage,
  type MLSMessage,
  type PrivateKeyPackage,
  type Proposal,
} from "ts-mls";
import type { EpochKeys } from "./frame-keys";
import { NK } from "./sframe";

export const MLS_CIPHERSUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" as const;
/** RFC 9605 §5.2 exporter label */
const SFRAME_EXPORTER_LABEL = "SFrame 1.0 Base Key";
const SAFETY_CODE_GROUPS = 6;

export class MlsGroupError extends Error {
  override name = "MlsGroupError";
}

let impl: Promise<CiphersuiteImpl> | undefined;
/** The cipher suite implementation (created once). */
export function mlsSuite(): Promise<CiphersuiteImpl> {
  impl ??= getCiphersuiteImpl(getCiphersuiteFromName(MLS_CIPHERSUITE));
  return impl;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export interface OwnKeyPackage {
  identity: string;
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
  /** the MLSMessage (wire format mls_key_package) to hand to the room */
  encoded: Uint8Array;
}

/** A fresh KeyPackage (§10) for `identity`; the private part never leaves this object. */
export async function newKeyPackage(identity: string): Promise<OwnKeyPackage> {
  const cs = await mlsSuite();
  const kp = await generateKeyPackage({ credentialType: "basic", identity: utf8.encode(identity) }, defaultCapabilities(), defaultLifetime, [], cs);
  const encoded = encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp.publicPackage });
  return { identity, ...kp, encoded };
}

function decode(bytes: Uint8Array, what: string): MLSMessage {
  let m: [MLSMessage, number] | undefined;
  try {
    m = decodeMlsMessage(bytes, 0);
  } catch {
    m = undefined;
  }
  if (!m || m[1] !== bytes.length) throw new MlsGroupError(`not a well-formed MLSMessage (${what})`);
  return m[0];
}

export interface Member {
  index: number;
  identity: string;
}

/** A commit made by us, not applied until the room accepted it. */
export interface PendingCommit {
  /** epoch the commit applies to (the room checks it) */
  epoch: bigint;
  commit: Uint8Array;
  /** for the added members, when any */
  welcome: Uint8Array | undefined;
  /** GroupInfo of the new epoch with the ratchet tree and external public key, for the room to keep */
  groupInfo: Uint8Array;
  readonly next: ClientState;
}

export class MlsGroup {
  #state: ClientState;

  private constructor(state: ClientState) {
    this.#state = state;
  }

  /** The first member creates the group (epoch 0). */
  static async create(groupId: Uint8Array, own: OwnKeyPackage): Promise<MlsGroup> {
    return new MlsGroup(await createGroup(groupId, own.publicPackage, own.privatePackage, [], await mlsSuite()));
  }

  /** Join from a Welcome made for `own` (the ratchet tree travels in the Welcome). */
  static async join(welcome: Uint8Array, own: OwnKeyPackage): Promise<MlsGroup> {
    const m = decode(welcome, "welcome");
    if (m.wireformat !== "mls_welcome") throw new MlsGroupError(`expected a Welcome, got ${m.wireformat}`);
    try {
      return new MlsGroup(await joinGroup(m.welcome, own.publicPackage, own.privatePackage, emptyPskIndex, await mlsSuite()));
    } catch (e) {
      throw new MlsGroupError(`cannot join from this Welcome: ${(e as Error).message}`);
    }
  }

  get epoch(): bigint {
    return this.#state.groupContext.epoch;
  }

  get groupId(): Uint8Array {
    return this.#state.groupContext.groupId;
  }

  /** Whether a commit removed us: keys of later epochs are then unknown to us. */
  get removed(): boolean {
    return this.#state.groupActiveState.kind === "removedFromGroup";
  }

  /** Leaves of the ratchet tree (blank ones included): the S of RFC 9605 §5.2 comes from it. */
  get leafCount(): number {
    return (this.#state.ratchetTree.length + 1) / 2;
  }

  get ownIndex(): number {
    return this.#state.privatePath.leafIndex;
  }

  /** Members in leaf order with the identity of their credential. */
  members(): Member[] {
    const out: Member[] = [];
    this.#state.ratchetTree.forEach((n, i) => {
      if (i % 2 === 0 && n?.nodeType === "leaf") {
        const c = n.leaf.credential;
        out.push({ index: i / 2, identity: c.credentialType === "basic" ? fromUtf8.decode(c.identity) : "" });
      }
    });
    return out;
  }

  /**
   * Commit adding the members of `add` (encoded KeyPackages) and removing the members whose identity is in `remove`.
   * Nothing changes here until `apply` (after the room accepted the commit).
   */
  async commit(change: { add?: Uint8Array[]; remove?: string[] }): Promise<PendingCommit> {
    const cs = await mlsSuite();
    const proposals: Proposal[] = [];
    for (const kpBytes of change.add ?? []) {
      const m = decode(kpBytes, "key package");
      if (m.wireformat !== "mls_key_package") throw new MlsGroupError(`expected a KeyPackage, got ${m.wireformat}`);
      if (m.keyPackage.cipherSuite !== MLS_CIPHERSUITE) throw new MlsGroupError(`KeyPackage of another cipher suite (${m.keyPackage.cipherSuite})`);
      proposals.push({ proposalType: "add", add: { keyPackage: m.keyPackage } });
    }
    for (const id of new Set(change.remove ?? [])) {
      const hits = this.members().filter((x) => x.identity === id);
      if (hits.length === 0) throw new MlsGroupError(`no member named ${JSON.stringify(id)}`);
      for (const h of hits) {
        if (h.index === this.ownIndex) throw new MlsGroupError("a member cannot commit its own removal");
        proposals.push({ proposalType: "remove", remove: { removed: h.index } });
      }
    }
    let r;
    try {
      r = await createCommit({ state: this.#state, cipherSuite: cs }, { extraProposals: proposals, ratchetTreeExtension: true });
    } catch (e) {
      throw new MlsGroupError(`cannot commit: ${(e as Error).message}`);
    }
    const gi = await createGroupInfoWithExternalPubAndRatchetTree(r.newState, [], cs);
    return {
      epoch: this.epoch,
      commit: encodeMlsMessage(r.commit),
      welcome: r.welcome ? encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: r.welcome }) : undefined,
      groupInfo: encodeMlsMessage({ version: "mls10", wireformat: "mls_group_info", groupInfo: gi }),
      next: r.newState,
    };
  }

  /** GroupInfo of the current epoch (with ratchet tree and external public key): what the creator gives the room. */
  async groupInfo(): Promise<Uint8Array> {
    const gi = await createGroupInfoWithExternalPubAndRatchetTree(this.#state, [], await mlsSuite());
    return encodeMlsMessage({ version: "mls10", wireformat: "mls_group_info", groupInfo: gi });
  }

  /** Apply our own commit once the room accepted it. */
  apply(p: PendingCommit): void {
    if (p.epoch !== this.epoch) throw new MlsGroupError(`pending commit is for epoch ${p.epoch}, the group is at ${this.epoch}`);
    this.#state = p.next;
  }

  /** Process another member's commit (relayed by the room); moves to the next epoch. */
  async process(commit: Uint8Array): Promise<void> {
    const m = decode(commit, "commit");
    if (m.wireformat !== "mls_private_message") throw new MlsGroupError(`expected a PrivateMessage, got ${m.wireformat}`);
    if (m.privateMessage.contentType !== "commit") throw new MlsGroupError(`expected a commit, got ${m.privateMessage.contentType}`);
    if (m.privateMessage.epoch !== this.epoch) throw new MlsGroupError(`commit for epoch ${m.privateMessage.epoch}, the group is at ${this.epoch}`);
    const cs = await mlsSuite();
    try {
      const r = await processPrivateMessage(this.#state, m.privateMessage, makePskIndex(this.#state, {}), cs);
      this.#state = r.newState;
    } catch (e) {
      throw new MlsGroupError(`cannot process commit: ${(e as Error).message}`);
    }
  }

  /** RFC 9605 §5.2 base_key of the current epoch. */
  async sframeBaseKey(): Promise<Uint8Array> {
    return mlsExporter(this.#state.keySchedule.exporterSecret, SFRAME_EXPORTER_LABEL, new Uint8Array(0), NK, await mlsSuite());
  }

  /** What the frame transform needs for this epoch (FrameKeys.setEpoch). */
  async epochKeys(): Promise<EpochKeys> {
    if (this.removed) throw new MlsGroupError("removed from the group: no keys");
    return { epoch: this.epoch, baseKey: await this.sframeBaseKey(), leafCount: this.leafCount, ownIndex: this.ownIndex };
  }

  /** The epoch authenticator as the safety code users compare. */
  safetyCode(): string {
    return safetyCode(this.#state.keySchedule.epochAuthenticator);
  }
}

/** 6 groups of 5 digits, each from 5 bytes of the authenticator (40 bits mod 100000: bias below 1e-7). */
export function safetyCode(authenticator: Uint8Array): string {
  if (authenticator.length < SAFETY_CODE_GROUPS * 5) throw new RangeError("authenticator too short for a safety code");
  const groups: string[] = [];
  for (let g = 0; g < SAFETY_CODE_GROUPS; g++) {
    let v = 0;
    for (let i = 0; i < 5; i++) v = v * 256 + authenticator[g * 5 + i]!;
    groups.push(String(v % 100_000).padStart(5, "0"));
  }
  return groups.join(" ");
}
