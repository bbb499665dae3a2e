// HCS notifications and hcsshim's wait on them (windows-host.md §a.3; hcsshim
// internal/hcs/waithelper.go and callback.go). A registered callback delivers
// (type, status, data) here; a wait for an expected type ends with that notification,
// with "unexpected exit" when the handle's exit notification comes instead, with "lost
// communication" on ServiceDisconnect, or with a timeout.
//
// Like hcsshim, one notification of each type is kept until a wait takes it, so a
// notification that arrives before anyone waits is not lost. Unlike hcsshim, the exit
// notification is never taken: once the system or process has exited, every later wait
// learns it (hcsshim's buffered channel let only the first waiter see it).

import { HcsError, HcsWaitError, isFailure } from './hresult.js';
import { parseResultDocument, resultText } from './result-document.js';

export const Notification = {
  Invalid: 0x0,
  SystemExited: 0x1,
  SystemCreateCompleted: 0x2,
  SystemStartCompleted: 0x3,
  SystemPauseCompleted: 0x4,
  SystemResumeCompleted: 0x5,
  SystemCrashReport: 0x6,
  SystemSiloJobCreated: 0x7,
  SystemSaveCompleted: 0x8,
  SystemRdpEnhancedModeStateChanged: 0x9,
  SystemShutdownFailed: 0xa,
  SystemGetPropertiesCompleted: 0xb,
  SystemModifyCompleted: 0xc,
  SystemCrashInitiated: 0xd,
  SystemGuestConnectionClosed: 0xe,
  ProcessExited: 0x10000,
  ServiceDisconnect: 0x01000000,
} as const;

export interface ReceivedNotification {
  type: number;
  status: number;
  data: string | null;
}

interface Waiter {
  expected: number;
  operation: string;
  resolve: (notification: ReceivedNotification) => void;
  reject: (err: Error) => void;
}

export class NotificationQueue {
  /** The notification that means "this handle's system or process is gone". */
  readonly exitType: number;
  /** Names the handle in error texts (`hcsshim::<operation> <id>: ...`). */
  readonly id: string;
  private readonly kept = new Map<number, ReceivedNotification>();
  private exit: ReceivedNotification | undefined;
  private disconnected = false;
  private closed = false;
  private readonly waiters = new Set<Waiter>();

  constructor(id: string, exitType: number) {
    this.id = id;
    this.exitType = exitType;
  }

  get hasExited(): boolean {
    return this.exit !== undefined;
  }

  /** The registered callback's body: keep or hand over, nothing that can throw into native code. */
  deliver(type: number, status: number, data: string | null): void {
    const notification = { type, status, data };
    if (type === this.exitType) this.exit = notification;
    else if (type === Notification.ServiceDisconnect) this.disconnected = true;
    else this.kept.set(type, notification);
    for (const waiter of [...this.waiters]) this.settle(waiter);
  }

  /** Waits for `expected` (bounded by `timeoutSeconds` when given); a failing status becomes an HcsError. */
  wait(expected: number, operation: string, timeoutSeconds?: number): Promise<ReceivedNotification> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      // Notifications come from other threads through koffi, which holds no reference on
      // the event loop: without this a wait with no timeout could let the process exit.
      const keepAlive = setInterval(() => undefined, 2 ** 30);
      const waiter: Waiter = {
        expected,
        operation,
        resolve: (notification) => {
          clearTimeout(timer);
          clearInterval(keepAlive);
          this.waiters.delete(waiter);
          if (isFailure(notification.status)) {
            reject(new HcsError(operation, this.id, notification.status, resultText(parseResultDocument(notification.data))));
          } else {
            resolve(notification);
          }
        },
        reject: (err) => {
          clearTimeout(timer);
          clearInterval(keepAlive);
          this.waiters.delete(waiter);
          reject(err);
        },
      };
      this.waiters.add(waiter);
      if (timeoutSeconds !== undefined) {
        timer = setTimeout(() => waiter.reject(new HcsWaitError(operation, this.id, 'timeout', timeoutSeconds)), timeoutSeconds * 1000);
      }
      this.settle(waiter);
    });
  }

  /** Ends every wait: the callback is being unregistered and the handle closed. */
  close(operation = 'Close'): void {
    this.closed = true;
    for (const waiter of [...this.waiters]) waiter.reject(new HcsWaitError(operation, this.id, 'closed'));
  }

  private settle(waiter: Waiter): void {
    const { operation } = waiter;
    if (waiter.expected === this.exitType) {
      if (this.exit) waiter.resolve(this.exit);
    } else {
      const kept = this.kept.get(waiter.expected);
      if (kept) {
        this.kept.delete(waiter.expected);
        waiter.resolve(kept);
        return;
      }
      if (this.exit) {
        waiter.reject(new HcsWaitError(operation, this.id, 'unexpected-exit'));
        return;
      }
    }
    if (this.disconnected) waiter.reject(new HcsWaitError(operation, this.id, 'service-disconnect'));
    else if (this.closed) waiter.reject(new HcsWaitError(operation, this.id, 'closed'));
  }
}
