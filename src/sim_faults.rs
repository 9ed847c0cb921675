//! The run-time fault table both simulators (HIS and payment) share: faults
//! injected through `/sim/faults`, matched by operationId or `*`, used up
//! `times` times (`None`: until cleared).

/// What a simulator's fault type must tell the table.
pub trait FaultRule: Clone {
    /// An operationId or `*`.
    fn operation(&self) -> &str;
    fn times_mut(&mut self) -> &mut Option<u32>;
}

#[derive(Debug)]
pub struct FaultTable<F> {
    faults: Vec<F>,
}

impl<F> Default for FaultTable<F> {
    fn default() -> Self {
        FaultTable { faults: Vec::new() }
    }
}

impl<F: FaultRule> FaultTable<F> {
    pub fn add(&mut self, f: F) {
        self.faults.push(f);
    }

    pub fn list(&self) -> Vec<F> {
        self.faults.clone()
    }

    pub fn clear(&mut self) {
        self.faults.clear();
    }

    /// The first fault for operation `op_id`, counted as used once.
    pub fn take(&mut self, op_id: &str) -> Option<F> {
        let i = self
            .faults
            .iter()
            .position(|f| f.operation() == "*" || f.operation() == op_id)?;
        let f = self.faults[i].clone();
        match self.faults[i].times_mut() {
            Some(1) => {
                self.faults.remove(i);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(f)
    }
}
