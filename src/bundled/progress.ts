/**
 * Progress for the long optimizer/eval commands: a bar with the stage and an ETA on a terminal, plain
 * "stage done/total" lines on stderr otherwise (a log), nothing at all with --json.
 */
import cliProgress from 'cli-progress';

export interface StageProgress {
  update(stage: string, done: number, total: number): void;
  stop(): void;
}

export function stageProgress(label: string, options: { json?: boolean; stream?: NodeJS.WriteStream } = {}): StageProgress {
  const stream = options.stream ?? process.stderr;
  if (options.json) return { update: () => {}, stop: () => {} };
  const t0 = performance.now();
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} |{bar}| {stage} {value}/{total} | ETA {eta_formatted} | {elapsed}s`, hideCursor: true, clearOnComplete: true, stream, etaBuffer: 20 },
      cliProgress.Presets.shades_classic,
    );
    let current = '';
    let started = false;
    return {
      update(stage, done, total) {
        const elapsed = Math.round((performance.now() - t0) / 1000);
        if (stage !== current || !started) {
          if (started) bar.stop();
          bar.start(Math.max(1, total), done, { stage, elapsed });
          current = stage;
          started = true;
        } else {
          bar.setTotal(Math.max(1, total));
          bar.update(done, { stage, elapsed });
        }
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let current = '';
  let lastFraction = -1;
  let lastTime = 0;
  let stageStart = t0;
  return {
    update(stage, done, total) {
      const now = performance.now();
      const fraction = total > 0 ? done / total : 0;
      if (stage !== current) {
        current = stage;
        stageStart = now;
        lastFraction = -1;
      }
      if (fraction - lastFraction >= 0.1 || now - lastTime > 15_000 || done === total) {
        if (done === total && lastFraction === 1) return;
        const rate = done > 0 ? (now - stageStart) / done : 0;
        const eta = done > 0 && done < total ? `, ETA ${Math.round((rate * (total - done)) / 1000)} s` : '';
        stream.write(`${label}: ${stage} ${done}/${total} (${Math.round((now - t0) / 1000)} s${eta})\n`);
        lastFraction = fraction;
        lastTime = now;
      }
    },
    stop() {},
  };
}
