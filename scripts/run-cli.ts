// The operator CLIs' common ending (npm run users / clients / health-cards): lines to stdout and
// stderr, an error's message instead of a stack trace, and the command's exit code.
export interface CliOutput {
  out: (line: string) => void;
  err: (line: string) => void;
}

export async function runCliAndExit(run: (io: CliOutput) => Promise<number>): Promise<never> {
  const code = await run({
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  }).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  });
  process.exit(code);
}
