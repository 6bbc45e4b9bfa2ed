import type { EpochKeys } from "./frame-keys";

export interface GroupKeySource { onEpoch(cb: (k: EpochKeys) => void): () => void; current(): EpochKeys | undefined; members(): { identity: string; leaf: number }[]; safetyCode(): string | undefined }
