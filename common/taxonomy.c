/*
 * taxonomy: needs of victims (32 seed bullets) and of the criminal
 * justice process (20), with the sub-kinds the seed names for housing,
 * medical, dental and mental health care and legal representation.
 */
#include <string.h>

#include "taxonomy.h"

#define V	"victim"
#define CJ	"criminal_justice"

static const struct taxonomy_need needs[] = {
	{ "case_management", "Case management", V, NULL,
	    "Case management" },
	{ "child_assistance", "Child-specific (dependent) assistance", V, NULL,
	    "Child-specific (dependent) assistance" },
	{ "civil_legal_award", "Civil legal award", V, NULL,
	    "Civil legal award" },
	{ "clothing", "Clothing", V, NULL, "Clothing" },
	{ "crime_victims_rights", "Crime victims' rights and benefits", V, NULL,
	    "Crime victims\xe2\x80\x99 rights and benefits" },
	{ "criminal_justice_assistance", "Criminal justice assistance", V, NULL,
	    "Criminal justice assistance" },
	{ "crisis_intervention", "Crisis intervention", V, NULL,
	    "Crisis intervention" },
	{ "cultural_community_support", "Cultural community/support", V, NULL,
	    "Cultural community/support" },
	{ "dental_care", "Dental care", V, NULL,
	    "Dental care (emergency and long-term)" },
	{ "dental_care_emergency", "Dental care: emergency", V, "dental_care",
	    "Dental care (emergency and long-term)" },
	{ "dental_care_long_term", "Dental care: long-term", V, "dental_care",
	    "Dental care (emergency and long-term)" },
	{ "disability_assistance", "Disability assistance", V, NULL,
	    "Disability assistance" },
	{ "education_ged", "Education/GED classes", V, NULL,
	    "Education/GED classes" },
	{ "esl_classes", "English as a Second Language (ESL) classes", V, NULL,
	    "English as a Second Language (ESL) classes" },
	{ "financial_literacy", "Financial literacy", V, NULL,
	    "Financial literacy" },
	{ "family_reunification", "Family contact/reunification", V, NULL,
	    "Family contact/reunification" },
	{ "food", "Food", V, NULL, "Food" },
	{ "housing", "Housing", V, NULL, "Housing" },
	{ "housing_emergency", "Housing: emergency", V, "housing",
	    "Housing (emergency, transitional, permanent)" },
	{ "housing_transitional", "Housing: transitional", V, "housing",
	    "Housing (emergency, transitional, permanent)" },
	{ "housing_permanent", "Housing: permanent", V, "housing",
	    "Housing (emergency, transitional, permanent)" },
	{ "identification_documents", "Identification documents", V, NULL,
	    "Identification documents" },
	{ "literacy_assistance", "Illiteracy or limited literacy assistance",
	    V, NULL, "Illiteracy or limited literacy assistance" },
	{ "job_placement", "Job preparation and placement", V, NULL,
	    "Job preparation and placement" },
	{ "legal_representation", "Legal representation", V, NULL,
	    "Legal representation (immigration, criminal, civil)" },
	{ "legal_representation_immigration", "Legal representation: immigration",
	    V, "legal_representation",
	    "Legal representation (immigration, criminal, civil)" },
	{ "legal_representation_criminal", "Legal representation: criminal",
	    V, "legal_representation",
	    "Legal representation (immigration, criminal, civil)" },
	{ "legal_representation_civil", "Legal representation: civil",
	    V, "legal_representation",
	    "Legal representation (immigration, criminal, civil)" },
	{ "medical_care", "Medical care", V, NULL,
	    "Medical care (emergency and long-term)" },
	{ "medical_care_emergency", "Medical care: emergency", V, "medical_care",
	    "Medical care (emergency and long-term)" },
	{ "medical_care_long_term", "Medical care: long-term", V, "medical_care",
	    "Medical care (emergency and long-term)" },
	{ "mental_health_care", "Mental health care", V, NULL,
	    "Mental health care (emergency and long-term)" },
	{ "mental_health_care_emergency", "Mental health care: emergency", V,
	    "mental_health_care",
	    "Mental health care (emergency and long-term)" },
	{ "mental_health_care_long_term", "Mental health care: long-term", V,
	    "mental_health_care",
	    "Mental health care (emergency and long-term)" },
	{ "public_benefits", "Public assistance benefits", V, NULL,
	    "Public assistance benefits" },
	{ "spiritual_assistance", "Religious and spiritual assistance", V, NULL,
	    "Religious and spiritual assistance" },
	{ "repatriation_assistance", "Repatriation assistance", V, NULL,
	    "Repatriation assistance" },
	{ "safety_planning", "Safety and safety planning", V, NULL,
	    "Safety and safety planning" },
	{ "sexual_assault_services", "Sexual assault trauma services", V, NULL,
	    "Sexual assault trauma services" },
	{ "substance_abuse_services", "Substance abuse services", V, NULL,
	    "Substance abuse services" },
	{ "translation_interpretation", "Translation and interpretation", V,
	    NULL, "Translation and interpretation" },
	{ "transportation", "Transportation", V, NULL, "Transportation" },
	{ "victim_advocacy", "Victim advocacy", V, NULL, "Victim advocacy" },

	{ "appropriate_authority", "Appropriate authority", CJ, NULL,
	    "Appropriate authority" },
	{ "aggressive_prosecution", "Aggressive prosecution", CJ, NULL,
	    "Aggressive prosecution" },
	{ "collaboration", "Collaboration", CJ, NULL, "Collaboration" },
	{ "cooperation", "Cooperation", CJ, NULL, "Cooperation" },
	{ "corroboration", "Corroboration", CJ, NULL, "Corroboration" },
	{ "cross_jurisdictional_cooperation", "Cross-jurisdictional cooperation",
	    CJ, NULL, "Cross-jurisdictional cooperation" },
	{ "effective_equipment", "Effective equipment", CJ, NULL,
	    "Effective equipment" },
	{ "effective_laws", "Effective laws", CJ, NULL, "Effective laws" },
	{ "evidence", "Evidence", CJ, NULL, "Evidence" },
	{ "expert_witnesses", "Expert witnesses", CJ, NULL, "Expert witnesses" },
	{ "informed_judiciary", "Informed judiciary", CJ, NULL,
	    "Informed judiciary" },
	{ "interagency_cooperation", "Interagency cooperation", CJ, NULL,
	    "Interagency cooperation" },
	{ "operational_intelligence", "Operational intelligence", CJ, NULL,
	    "Operational intelligence" },
	{ "international_laws", "Useful international laws", CJ, NULL,
	    "Useful international laws" },
	{ "suspect_identification", "Suspect identification", CJ, NULL,
	    "Suspect identification" },
	{ "training", "Training", CJ, NULL,
	    "Training (ongoing to address turnover and more advanced topics)" },
	{ "victim_centered_investigations",
	    "Understanding of victim-centered investigations", CJ, NULL,
	    "Understanding of victim-centered investigations" },
	{ "victim_identification", "Victim identification", CJ, NULL,
	    "Victim identification" },
	{ "victim_support_services", "Victim support services", CJ, NULL,
	    "Victim support services" },
	{ "witness_support", "Witness support for nonvictims", CJ, NULL,
	    "Witness support for nonvictims" },
};

const struct taxonomy_need *
taxonomy_needs(size_t *n)
{
	*n = sizeof(needs) / sizeof(needs[0]);
	return (needs);
}

const struct taxonomy_need *
taxonomy_need_find(const char *code)
{
	size_t	i;

	if (code == NULL)
		return (NULL);
	for (i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		if (strcmp(needs[i].code, code) == 0)
			return (&needs[i]);
	}
	return (NULL);
}
