// Placeholder until the harness lands: no servers are started.
export default function setup(): void {}
