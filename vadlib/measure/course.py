"""The course's protocol in numbers: how `course_loss` batches, and the original course report's figures every report
sets its own beside. Data only, so the report stage can quote them without importing torch or the models."""

COURSE_BATCH = 64  # course_loss: consecutive batches of 64, a short last batch counting as one
# course_loss (train, test) in the original course report
COURSE_REPORT = {"ad": (0.0252, 0.1186), "normal": (0.0186, 0.1112), "uniform": (0.1457, 0.1644),
                 "laplace": (0.0204, 0.1118)}
