/**
 * What the media side (frame encryption, transform.ts) and the call screen (safety code) get from the MLS member
 * (member.ts): one interface, no MLS types. `EpochKeys` is the frame transform's own (frame-keys.ts).
 *
 * Epochs: `onEpoch` fires once per MLS epoch this page is a member of, in order, starting with the first (creating the
 * group, or joining from a Welcome). After the XMPP session was lost and a new one joined (a rejoin is a new member,
 * RFC 9420 §12.4.3.1: it has no keys of what came before), or after this member was removed, `current()` is
 * undefined until the new membership's first epoch; that first epoch may be lower than the last one seen (a new group
 * starts at 0), so a consumer treats an epoch that is not after the previous one as a new group: forget the old keys
 * first (MediaEncryption.clear()), then install it.
 */
export type { EpochKeys } from "./frame-keys";
import type { EpochKeys } from "./frame-keys";

export interface GroupMember {
  /** the credential identity (BasicCredential, RFC 9420 §5.3): the same the occupant announces in its presence */
  identity: string;
  /** leaf index in the ratchet tree (the sender index in the SFrame KID, RFC 9605 §5.2) */
  leaf: number;
}

export interface GroupKeySource {
  /** Called with every new epoch's frame keys; returns the unsubscribe. */
  onEpoch(cb: (k: EpochKeys) => void): () => void;
  /** The current epoch's keys, or undefined while not (yet, or no longer) in the group. */
  current(): EpochKeys | undefined;
  /** Members of the current epoch in leaf order (empty when not in the group). */
  members(): GroupMember[];
  /** The current epoch's safety code (6 groups of 5 digits, group.ts), or undefined when not in the group. */
  safetyCode(): string | undefined;
}
