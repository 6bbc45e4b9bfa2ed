/**
 * Media via the bridge (mediasoup SFU) with mediasoup-client. Loaded lazily (dynamic import) only when the room
 * announces `<media xmlns='urn:parley:media:0' mode='bridge' url=… grant=…/>`.
 */
export interface BridgeEvents {
  remoteStream(nick: string, stream: MediaStream): void;
  peerGone(nick: string): void;
  failed(reason: string): void;
}

export interface BridgeLink {
  /** Resolves when our media is being sent and we receive everyone already producing. */
  readonly ready: Promise<void>;
  replaceTrack(kind: "audio" | "video", track: MediaStreamTrack | null): Promise<void>;
  peerConnections(): RTCPeerConnection[];
  close(): void;
}

export async function connectBridge(
  _url: string,
  _grant: string,
  _self: string,
  _sendStream: MediaStream,
  _events: BridgeEvents,
): Promise<BridgeLink> {
  throw new Error("bridge signaling is not available yet");
}
