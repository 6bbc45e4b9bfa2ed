/**
 * RFC 9420 conformance of the ts-mls version we ship, with the MLS working group's test vectors for cipher suite 1
 * (test/fixtures/mls/README.md). Each check is the one the vector file's own documentation states
 * (mlswg/mls-implementations test-vectors.md), run through ts-mls' functions for that step.
 */
import { describe, expect, it } from "vitest";
import { decodeMlsMessage, encodeMlsMessage, type GroupContext } from "ts-mls";
import { deriveSecret, deriveTreeSecret, expandWithLabel } from "ts-mls/crypto/kdf.js";
import { refhash } from "ts-mls/crypto/hash.js";
import { signWithLabel, verifyWithLabel } from "ts-mls/crypto/signature.js";
import { decryptWithLabel, encryptWithLabel } from "ts-mls/crypto/hpke.js";
import { initializeEpoch, mlsExporter } from "ts-mls/keySchedule.js";
import { encodeGroupContext } from "ts-mls/groupContext.js";
import { createSecretTree, deriveKey, deriveNonce, ratchetUntil } from "ts-mls/secretTree.js";
import { expandSenderDataKey, expandSenderDataNonce } from "ts-mls/sender.js";
import { left, leafToNodeIndex, nodeWidth, parent, right, root, sibling, toLeafIndex, toNodeIndex } from "ts-mls/treemath.js";
import { decodeAuthenticatedContent } from "ts-mls/authenticatedContent.js";
import { createConfirmedHash, createInterimHash } from "ts-mls/transcriptHash.js";
import { decryptGroupInfo, decryptGroupSecrets } from "ts-mls/welcome.js";
import { verifyGroupInfoConfirmationTag, verifyGroupInfoSignature } from "ts-mls/groupInfo.js";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { decodeCommit, encodeCommit } from "ts-mls/commit.js";
import { decodeAdd, decodeRemove, decodeUpdate, encodeAdd, encodeRemove, encodeUpdate } from "ts-mls/proposal.js";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { decodeGroupSecrets, encodeGroupSecrets } from "ts-mls/groupSecrets.js";
import { defaultKeyRetentionConfig } from "ts-mls/keyRetentionConfig.js";
import { MLS_CIPHERSUITE, mlsSuite } from "../../workers/web/src/e2ee/group";
import cryptoBasics from "../fixtures/mls/crypto-basics.json";
import keySchedule from "../fixtures/mls/key-schedule.json";
import secretTree from "../fixtures/mls/secret-tree.json";
import treeMath from "../fixtures/mls/tree-math.json";
import transcriptHashes from "../fixtures/mls/transcript-hashes.json";
import welcomes from "../fixtures/mls/welcome.json";
import messages from "../fixtures/mls/messages.json";

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (u: Uint8Array) => [...u].map((b) => b.toString(16).padStart(2, "0")).join("");

describe("MLS test vectors, cipher suite 1 (mlswg/mls-implementations)", () => {
  it("are all of cipher suite 1, the one the web app uses", () => {
    for (const v of [...cryptoBasics, ...keySchedule, ...secretTree, ...transcriptHashes, ...welcomes]) expect(v.cipher_suite).toBe(1);
    expect(MLS_CIPHERSUITE).toBe("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
  });

  it("crypto-basics: RefHash, DeriveSecret, DeriveTreeSecret, ExpandWithLabel, EncryptWithLabel, SignWithLabel", async () => {
    const cs = await mlsSuite();
    for (const v of cryptoBasics) {
      expect(toHex(await refhash(v.ref_hash.label, hex(v.ref_hash.value), cs.hash))).toBe(v.ref_hash.out);
      expect(toHex(await deriveSecret(hex(v.derive_secret.secret), v.derive_secret.label, cs.kdf))).toBe(v.derive_secret.out);
      const t = v.derive_tree_secret;
      expect(toHex(await deriveTreeSecret(hex(t.secret), t.label, t.generation, t.length, cs.kdf))).toBe(t.out);
      const x = v.expand_with_label;
      expect(toHex(await expandWithLabel(hex(x.secret), x.label, hex(x.context), x.length, cs.kdf))).toBe(x.out);
      const e = v.encrypt_with_label;
      const priv = await cs.hpke.importPrivateKey(hex(e.priv));
      const pub = await cs.hpke.importPublicKey(hex(e.pub));
      expect(toHex(await decryptWithLabel(priv, e.label, hex(e.context), hex(e.kem_output), hex(e.ciphertext), cs.hpke))).toBe(e.plaintext);
      const mine = await encryptWithLabel(pub, e.label, hex(e.context), hex(e.plaintext), cs.hpke);
      expect(toHex(await decryptWithLabel(priv, e.label, hex(e.context), mine.enc, mine.ct, cs.hpke))).toBe(e.plaintext);
      const s = v.sign_with_label;
      expect(await verifyWithLabel(hex(s.pub), s.label, hex(s.content), hex(s.signature), cs.signature)).toBe(true);
      const sig = await signWithLabel(hex(s.priv), s.label, hex(s.content), cs.signature);
      expect(await verifyWithLabel(hex(s.pub), s.label, hex(s.content), sig, cs.signature)).toBe(true);
      // Ed25519 is deterministic (RFC 8032): our signature is the vector's
      expect(toHex(sig)).toBe(s.signature);
    }
  });

  it("key-schedule: every epoch's secrets, epoch authenticator and exporter (the SFrame base key's source)", async () => {
    const cs = await mlsSuite();
    for (const v of keySchedule) {
      let initSecret: Uint8Array = hex(v.initial_init_secret);
      for (const [i, ep] of v.epochs.entries()) {
        const gc: GroupContext = {
          version: "mls10",
          cipherSuite: MLS_CIPHERSUITE,
          groupId: hex(v.group_id),
          epoch: BigInt(i),
          treeHash: hex(ep.tree_hash),
          confirmedTranscriptHash: hex(ep.confirmed_transcript_hash),
          extensions: [],
        };
        expect(toHex(encodeGroupContext(gc))).toBe(ep.group_context);
        const r = await initializeEpoch(initSecret, hex(ep.commit_secret), gc, hex(ep.psk_secret), cs.kdf);
        const ks = r.keySchedule;
        expect(toHex(r.joinerSecret)).toBe(ep.joiner_secret);
        expect(toHex(r.welcomeSecret)).toBe(ep.welcome_secret);
        expect(toHex(r.encryptionSecret)).toBe(ep.encryption_secret);
        expect(toHex(ks.initSecret)).toBe(ep.init_secret);
        expect(toHex(ks.senderDataSecret)).toBe(ep.sender_data_secret);
        expect(toHex(ks.exporterSecret)).toBe(ep.exporter_secret);
        expect(toHex(ks.externalSecret)).toBe(ep.external_secret);
        expect(toHex(ks.confirmationKey)).toBe(ep.confirmation_key);
        expect(toHex(ks.membershipKey)).toBe(ep.membership_key);
        expect(toHex(ks.resumptionPsk)).toBe(ep.resumption_psk);
        expect(toHex(ks.epochAuthenticator)).toBe(ep.epoch_authenticator);
        const { publicKey } = await cs.hpke.deriveKeyPair(hex(ep.external_secret));
        expect(toHex(await cs.hpke.exportPublicKey(publicKey))).toBe(ep.external_pub);
        const x = ep.exporter;
        expect(toHex(await mlsExporter(ks.exporterSecret, x.label, hex(x.context), x.length, cs))).toBe(x.secret);
        initSecret = ks.initSecret;
      }
    }
  });

  it("secret-tree: sender data key and nonce, handshake and application keys per leaf and generation", async () => {
    const cs = await mlsSuite();
    for (const v of secretTree) {
      const sd = v.sender_data;
      expect(toHex(await expandSenderDataKey(cs, hex(sd.sender_data_secret), hex(sd.ciphertext)))).toBe(sd.key);
      expect(toHex(await expandSenderDataNonce(cs, hex(sd.sender_data_secret), hex(sd.ciphertext)))).toBe(sd.nonce);
      const tree = await createSecretTree(v.leaves.length, hex(v.encryption_secret), cs.kdf);
      for (const [i, leaf] of v.leaves.entries()) {
        const node = tree[leafToNodeIndex(toLeafIndex(i))]!;
        for (const g of leaf) {
          for (const [secret, key, nonce] of [
            [node.handshake, g.handshake_key, g.handshake_nonce],
            [node.application, g.application_key, g.application_nonce],
          ] as const) {
            const [r] = await ratchetUntil(secret, g.generation, defaultKeyRetentionConfig, cs.kdf);
            expect(r.generation).toBe(g.generation);
            expect(toHex(await deriveKey(r.secret, r.generation, cs))).toBe(key);
            expect(toHex(await deriveNonce(r.secret, r.generation, cs))).toBe(nonce);
          }
        }
      }
    }
  });

  it("tree-math: width, root, left, right, parent, sibling (trees up to 32 leaves)", () => {
    for (const v of treeMath) {
      expect(nodeWidth(v.n_leaves)).toBe(v.n_nodes);
      expect(root(v.n_leaves)).toBe(v.root);
      const check = (want: (number | null)[], f: (i: number) => number) =>
        want.forEach((w, i) => (w === null ? expect(() => f(i)).toThrow() : expect(f(i)).toBe(w)));
      check(v.left, (i) => left(toNodeIndex(i)));
      check(v.right, (i) => right(toNodeIndex(i)));
      check(v.parent, (i) => parent(toNodeIndex(i), v.n_leaves));
      check(v.sibling, (i) => sibling(toNodeIndex(i), v.n_leaves));
    }
  });

  it("transcript-hashes: confirmation tag, confirmed and interim transcript hashes", async () => {
    const cs = await mlsSuite();
    for (const v of transcriptHashes) {
      const d = decodeAuthenticatedContent(hex(v.authenticated_content), 0);
      if (!d || d[0].content.contentType !== "commit" || d[0].auth.contentType !== "commit") throw new Error("not a commit");
      const tag = d[0].auth.confirmationTag;
      expect(await cs.hash.verifyMac(hex(v.confirmation_key), tag, hex(v.confirmed_transcript_hash_after))).toBe(true);
      const input = { wireformat: d[0].wireformat, content: d[0].content, signature: d[0].auth.signature };
      expect(toHex(await createConfirmedHash(hex(v.interim_transcript_hash_before), input, cs.hash))).toBe(v.confirmed_transcript_hash_after);
      expect(toHex(await createInterimHash(hex(v.confirmed_transcript_hash_after), tag, cs.hash))).toBe(v.interim_transcript_hash_after);
    }
  });

  it("welcome: group secrets decrypt with the init key, GroupInfo decrypts, its tag and signature verify", async () => {
    const cs = await mlsSuite();
    for (const v of welcomes) {
      const w = decodeMlsMessage(hex(v.welcome), 0);
      const kp = decodeMlsMessage(hex(v.key_package), 0);
      if (w?.[0].wireformat !== "mls_welcome" || kp?.[0].wireformat !== "mls_key_package") throw new Error("bad vector");
      const ref = await makeKeyPackageRef(kp[0].keyPackage, cs.hash);
      const secrets = await decryptGroupSecrets(await cs.hpke.importPrivateKey(hex(v.init_priv)), ref, w[0].welcome, cs.hpke);
      if (!secrets) throw new Error("group secrets did not decrypt");
      const psk = new Uint8Array(cs.kdf.size);
      const gi = await decryptGroupInfo(w[0].welcome, secrets.joinerSecret, psk, cs);
      if (!gi) throw new Error("group info did not decrypt");
      expect(await verifyGroupInfoConfirmationTag(gi, secrets.joinerSecret, psk, cs)).toBe(true);
      expect(await verifyGroupInfoSignature(gi, hex(v.signer_pub), cs.signature)).toBe(true);
    }
  });

  it("messages: the wire structures decode and re-encode to the same bytes", () => {
    const roundTrip = <T,>(s: string, dec: (b: Uint8Array, o: number) => [T, number] | undefined, enc: (x: T) => Uint8Array) => {
      const b = hex(s);
      const d = dec(b, 0);
      if (!d) throw new Error("did not decode");
      expect(toHex(enc(d[0]))).toBe(s);
    };
    for (const m of messages) {
      for (const [s, wf] of [
        [m.mls_welcome, "mls_welcome"],
        [m.mls_group_info, "mls_group_info"],
        [m.mls_key_package, "mls_key_package"],
        [m.public_message_application, "mls_public_message"],
        [m.public_message_proposal, "mls_public_message"],
        [m.public_message_commit, "mls_public_message"],
        [m.private_message, "mls_private_message"],
      ] as const) {
        const d = decodeMlsMessage(hex(s), 0);
        expect(d?.[0].wireformat).toBe(wf);
        expect(toHex(encodeMlsMessage(d![0]))).toBe(s);
      }
      roundTrip(m.commit, decodeCommit, encodeCommit);
      roundTrip(m.ratchet_tree, decodeRatchetTree, encodeRatchetTree);
      roundTrip(m.group_secrets, decodeGroupSecrets, encodeGroupSecrets);
      roundTrip(m.add_proposal, decodeAdd, encodeAdd);
      roundTrip(m.update_proposal, decodeUpdate, encodeUpdate);
      roundTrip(m.remove_proposal, decodeRemove, encodeRemove);
    }
  });
});
