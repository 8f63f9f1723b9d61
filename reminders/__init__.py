"""The time face of toxbot: reassessment reminders (built in a later issue)."""
