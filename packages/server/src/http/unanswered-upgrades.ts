import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** How long an upgrade request may wait for a handler's first byte (handlers answer at once: 101 or an error). */
const UNANSWERED_UPGRADE_MS = 10_000;

/**
 * Node destroys an upgrade request when nothing listens for upgrades; once a channel listens (Socket.IO
 * at `/socket.io/`, the realtime protocol at `/events/ws`), a request to any other path would stay
 * open forever, as each handler leaves other paths alone. This answers those with a 404 instead.
 */
export function closeUnansweredUpgrades(server: Server, afterMs = UNANSWERED_UPGRADE_MS): void {
  server.on('upgrade', (_request, socket: Socket) => {
    const cancel = () => clearTimeout(timer);
    const timer = setTimeout(() => {
      // Upgraded sockets live for hours: let go of the timer and this listener once they are done with.
      socket.off('close', cancel);
      if (socket.writable && socket.bytesWritten === 0) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }, afterMs);
    timer.unref();
    socket.once('close', cancel);
  });
}
