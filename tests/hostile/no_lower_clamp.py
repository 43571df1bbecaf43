# Drops the lower clamp (a red team's candidate, session 10): on independent random inputs every row holds values far
# above clamp_min, so the result moves by 1e-9 and every random distribution passes; rows whose every value lies below
# clamp_min (problem 22's edge_inputs) give 0.0 where the reference gives 0.062.
# expect: edges trial
# where: cpu gpu


class ModelNew(HonestModel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.clamp_min = -3.0e38
