// Test support: puts a MongoClient's driver into the state a server process was found in after
// several FerretDB restarts (README "MongoDB"): the server monitor's hello never settles (it waits
// for 'drain' on a socket closed mid-write) and the server was reset to Unknown with its pool
// paused, so every operation through that client fails at once until the client is reconnected.
import { MongoNetworkError, type MongoClient } from 'mongodb';

type Monitor = { connection?: { command: () => Promise<never> }; emit(event: string, err: Error): void };

export async function wedgeServerMonitor(client: MongoClient): Promise<void> {
  const topology = (client as unknown as { topology: { s: { servers: Map<string, { monitor: Monitor }> } } }).topology;
  const monitor = [...topology.s.servers.values()][0].monitor;
  for (let i = 0; i < 50 && !monitor.connection; i++) await new Promise((r) => setTimeout(r, 100));
  if (!monitor.connection) throw new Error("the driver's monitor has no connection to wedge");
  monitor.connection.command = () => new Promise<never>(() => undefined);
  monitor.emit('resetServer', new MongoNetworkError('connection 85 to the server closed'));
}
