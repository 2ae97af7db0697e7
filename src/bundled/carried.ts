/**
 * The bundled model's per-sampler optimized schedules (models/fashion-mnist/teacher-schedules.json): teacher-
 * matching schedules made by `npm run bench:optimize` for each sampler and step count, with their held-out
 * numbers. The reader lives with the class-conditional pipeline (src/pipelines/class-model-folder.ts), which
 * uses it for `--scheduler optimized`; re-exported here for the bundled-model tools.
 */
export {
  TEACHER_SCHEDULES_FILE,
  readTeacherSchedules,
  carriedTeacherSigmas,
  type CarriedTeacherSchedule,
  type TeacherScheduleSet,
} from '../pipelines/class-model-folder.js';
