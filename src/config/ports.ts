/**
 * Drops repeated proto/port pairs, keeping the first of each in order: doors often share a
 * port (tcp/22), and the firewall protects it once. The one home of this rule, used by the
 * config loader, the CLI and the firewall backends.
 */
export function uniquePorts<T extends { readonly proto: string; readonly port: number }>(
  specs: readonly T[],
): T[] {
  const seen = new Set<string>();
  return specs.filter((spec) => {
    const key = `${spec.proto}/${spec.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
