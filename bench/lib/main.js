// Running scenarios: shared by bench/run.js (all or some) and each scenario script run alone.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeOutputs } from './commands.js';
import { Report, machineInfo, printMachine } from './report.js';

/** True when the module at `url` is the script node was started with. */
export function isMain(url) {
  return Boolean(process.argv[1]) && fileURLToPath(url) === path.resolve(process.argv[1]);
}

/**
 * scenarios: [{ name, run(report) }]. A failing scenario is reported and the rest still run.
 * `all` says this is the whole suite (results.json), not a subset (results-<names>.json).
 */
export async function runScenarios(scenarios, { all = false } = {}) {
  const started = new Date();
  const t0 = performance.now();
  const machine = machineInfo();
  printMachine(machine);
  const report = new Report();
  report.printHeader();
  const scenarioSeconds = {};
  for (const s of scenarios) {
    const t = performance.now();
    try {
      await s.run(report);
    } catch (err) {
      report.fail(s.name, err);
    } finally {
      removeOutputs(); // large outputs go; cached inputs stay for the next run
    }
    // Includes warm-ups, references, input generation and untimed clean-up: where the suite's time goes.
    scenarioSeconds[s.name] = +((performance.now() - t) / 1000).toFixed(1);
    process.stderr.write(`bench: ${s.name} took ${scenarioSeconds[s.name]} s\n`);
  }
  const totalSeconds = (performance.now() - t0) / 1000;
  const file = report.write({ machine, started: started.toISOString(), totalSeconds, scenarioSeconds }, all ? null : scenarios.map((s) => s.name));
  process.stdout.write(`\ntotal ${totalSeconds.toFixed(1)} s; results in ${file}\n`);
}
