/**
 * For a child of the fault tester: exits once its stdin ends. The runner holds each child's
 * stdin open while it lives, so the end means the runner is gone: stopped by a signal it did
 * not pass on, or killed. Without this a run-mode client, which never ends on its own, went on
 * syncing against a dead server: four of them were found still running 90 minutes after their
 * runner got a SIGTERM, a quarter of a core taken from everything measured since.
 */
export function exitWhenRunnerGone(): void {
  void (async () => {
    for await (const _ of process.stdin) {
      // Nothing is sent to a run-mode child or a server; only the end matters.
    }
    process.exit(0);
  })();
}
