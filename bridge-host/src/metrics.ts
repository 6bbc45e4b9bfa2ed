/**
 * Prometheus text exposition (format 0.0.4) with counts only: no room names, nicks or addresses in any label.
 */
export interface MetricsSnapshot {
  gauges: Record<string, { help: string; value: number }>;
  counters: Record<string, { help: string; value: number }>;
  perWorkerCpu: number[];
}

export function renderMetrics(s: MetricsSnapshot): string {
  const out: string[] = [];
  for (const [name, g] of Object.entries(s.gauges)) {
    out.push(`# HELP parley_bridge_${name} ${g.help}`, `# TYPE parley_bridge_${name} gauge`, `parley_bridge_${name} ${g.value}`);
  }
  for (const [name, c] of Object.entries(s.counters)) {
    out.push(`# HELP parley_bridge_${name}_total ${c.help}`, `# TYPE parley_bridge_${name}_total counter`, `parley_bridge_${name}_total ${c.value}`);
  }
  out.push("# HELP parley_bridge_worker_cpu_ratio CPU share of one core used by each mediasoup worker", "# TYPE parley_bridge_worker_cpu_ratio gauge");
  s.perWorkerCpu.forEach((v, i) => out.push(`parley_bridge_worker_cpu_ratio{worker="${i}"} ${v.toFixed(4)}`));
  return out.join("\n") + "\n";
}
