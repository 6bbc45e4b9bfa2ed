/**
 * A microphone for Chromium's `--use-file-for-fake-audio-capture` (the file loops) that is mostly silent, as most
 * people in a call are: Chromium's own fake microphone never falls silent.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const RATE = 48_000;

/** 16-bit mono WAV: `toneMs` of a 440 Hz tone, then silence, `totalMs` in all. */
function toneThenSilence(toneMs: number, totalMs: number): Buffer {
  const n = Math.round((RATE * totalMs) / 1000);
  const tone = Math.round((RATE * toneMs) / 1000);
  const b = Buffer.alloc(44 + n * 2);
  b.write("RIFF", 0);
  b.writeUInt32LE(36 + n * 2, 4);
  b.write("WAVEfmt ", 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(RATE, 24);
  b.writeUInt32LE(RATE * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write("data", 36);
  b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < tone; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / RATE)), 44 + i * 2);
  return b;
}

/** Write the file (0.3 s of tone every 2 s) to a temporary directory; its path, for Chromium's flag. */
export function mostlySilentMicFile(): string {
  const path = join(mkdtempSync(join(tmpdir(), "parley-mic-")), "mostly-silent.wav");
  writeFileSync(path, toneThenSilence(300, 2000));
  return path;
}
