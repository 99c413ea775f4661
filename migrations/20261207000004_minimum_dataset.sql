-- The minimum dataset of the Social Prescribing Information Standard (PRSB v1.1) that the
-- pathway did not yet record: the patient's sex, ethnic category and deprivation decile, and
-- their consent to share the referral's details beyond the practice; at the assessment, their
-- concerns, their goals and the support offered besides onward referrals.

ALTER TABLE patients ADD COLUMN sex text
    CHECK (sex IN ('male', 'female', 'indeterminate', 'not_known'));
-- NHS Data Dictionary ethnic category (2001 census classification).
ALTER TABLE patients ADD COLUMN ethnic_category text
    CHECK (ethnic_category IN ('A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'L', 'M', 'N',
                               'P', 'R', 'S', 'Z', '99'));
-- The Index of Multiple Deprivation decile of where the patient lives, as supplied.
ALTER TABLE patients ADD COLUMN imd_decile smallint CHECK (imd_decile BETWEEN 1 AND 10);
-- Without it, what leaves the practice about the referral is its coded events only.
ALTER TABLE patients ADD COLUMN share_beyond_practice boolean NOT NULL DEFAULT false;

ALTER TABLE assessments ADD COLUMN concerns text[] NOT NULL DEFAULT '{}';
ALTER TABLE assessments ADD COLUMN goals text[] NOT NULL DEFAULT '{}';
ALTER TABLE assessments ADD COLUMN other_support text;
