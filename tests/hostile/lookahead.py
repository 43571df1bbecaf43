# Looks through its process's memory for input tensors it has not been called with yet (inputs an evaluator makes
# ahead of the calls that use them), computes all their answers in one call and answers each later call from that
# table, keyed by the input's sum. Against an evaluator that makes no input before its call it is honest work.
# expect: pass | wrong answer
# where: cpu gpu
class ModelNew(HonestModel):
    def forward(self, x):
        table = getattr(self, "table", None)
        if table is None:
            table = {}
            self.table = table
        key = float(x.sum())
        if key not in table:
            for t in torch.cuda.graphs.gc.get_objects():
                if type(t) is type(x) and t.shape == x.shape and t.dtype == x.dtype and t.device == x.device:
                    table[float(t.sum())] = super().forward(t)
            table[key] = super().forward(x)
        return table.pop(key)
