// Time-left estimate for the current stage: linear extrapolation of the progress made since the
// stage's first report, shown only once there is enough progress and time for it to mean something.
export class StageEta {
  private stage = ''
  private t0 = 0
  private f0 = 0

  constructor(private readonly now: () => number = () => performance.now(), private readonly minSeconds = 0.25) {}

  /** seconds left in this stage, or null while unknown */
  update(stage: string, fraction: number): number | null {
    const t = this.now()
    if (stage !== this.stage) { this.stage = stage; this.t0 = t; this.f0 = fraction }
    if (fraction >= 1) return 0
    const elapsed = (t - this.t0) / 1000
    const done = fraction - this.f0
    if (done < 0.01 || elapsed < this.minSeconds) return null
    return Math.max(0, (elapsed * (1 - fraction)) / done)
  }
}
