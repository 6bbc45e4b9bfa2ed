/**
 * The bridge host's Prometheus text (bridge-host/src/metrics.ts).
 */
import { describe, expect, it } from "vitest";
import { renderMetrics } from "../../bridge-host/src/metrics";

describe("metrics", () => {
  it("renders Prometheus text", () => {
    const text = renderMetrics({
      gauges: { rooms: { help: "rooms", value: 3 } },
      counters: { ws_accepted: { help: "accepted", value: 7 } },
      perWorkerCpu: [0.5],
    });
    expect(text).toContain("# TYPE parley_bridge_rooms gauge\nparley_bridge_rooms 3\n");
    expect(text).toContain("parley_bridge_ws_accepted_total 7");
    expect(text).toContain('parley_bridge_worker_cpu_ratio{worker="0"} 0.5000');
  });
});
