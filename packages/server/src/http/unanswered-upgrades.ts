import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** How long an upgrade request may wait for a handler's first byte (handlers answer at once: 101 or an error). */
const UNANSWERED_UPGRADE_MS = 10_000;

/**
 * Node destroys an upgrade request when nothing listens for upgrades; once a channel listens (Socket.IO
 * at `/socket.io/`, the realtime protocol at `/events/ws`), a request to any other path would stay
 * open forever, as each handler leaves other paths alone. This answers those with a 404 instead.
 *
 * One timer serves every upgrade, in arrival order, and nothing is attached to the sockets: thousands
 * of clients connecting at once cost no timer, listener or closure each (upgraded sockets live for hours).
 */
export function closeUnansweredUpgrades(server: Server, afterMs = UNANSWERED_UPGRADE_MS): void {
  const sockets: Socket[] = [];
  const deadlines: number[] = [];
  let timer: NodeJS.Timeout | undefined;

  const check = (): void => {
    timer = undefined;
    const now = Date.now();
    let due = 0;
    while (due < deadlines.length && (deadlines[due] as number) <= now) {
      const socket = sockets[due] as Socket;
      if (socket.writable && socket.bytesWritten === 0) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      due++;
    }
    sockets.splice(0, due);
    deadlines.splice(0, due);
    if (deadlines.length) arm((deadlines[0] as number) - now);
  };
  const arm = (ms: number): void => {
    timer = setTimeout(check, Math.max(1, ms));
    timer.unref();
  };

  server.on('upgrade', (_request, socket: Socket) => {
    sockets.push(socket);
    deadlines.push(Date.now() + afterMs);
    if (!timer) arm(afterMs);
  });
}
