"""What a build writes and how readers find it: atomic file writes with a change journal (`atomic`), and the
catalog folder's generations, marker and lock (`generation`)."""
