// The shape every fuzz section reports; run.ts prints them and judges the run.

export interface FuzzSection {
  /** e.g. "gateway frames", "worker pushes", "worker port" */
  name: string;
  /** inputs tried */
  tried: number;
  /** answered with a clear, typed error (or a clean refusal) */
  clearErrors: number;
  /** the process / worker died or an unexpected exception escaped */
  crashes: number;
  /** no answer within the bound */
  hangs: number;
  /** something was accepted that must not be (a forged token worked, a forged message was shown, …) */
  wrongAccepts: number;
  /** a real message that should have been delivered was not (or was delivered twice) */
  lost: number;
  /** one line per finding, with the seed and the input needed to replay it */
  notes: string[];
}

/** Whether a section is a failure for the run's exit code. */
export const failed = (s: FuzzSection): boolean => s.crashes + s.hangs + s.wrongAccepts + s.lost > 0;
