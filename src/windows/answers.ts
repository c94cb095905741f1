/**
 * What the management endpoint tells other Windows features after it stored a device's answers
 * to queued commands (profiles settle their status from them). Listeners run after the commit; a
 * failing listener is logged and does not fail the device's session.
 */
export interface SavedAnswers {
  enrollmentId: number;
  hostUuid: string;
  /** One entry per answered command: its UUID and the device's Status/Results XML for it. */
  results: { commandUuid: string; rawResult: string; statusCode: string }[];
}

export type WindowsAnswersListener = (answers: SavedAnswers) => Promise<void>;
