// Raw HTTP over a socket, for tests that compare two servers' answers byte for byte (the fast lanes
// against the express routes): the request is sent as given and the answer read whole.
import net from 'node:net';

/** Sends raw bytes and returns the raw answer (one request per connection). */
export function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}
